"""The gRPC tracking stream against a real ``python -m service`` and a real grpcio client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

DATA = Path(__file__).resolve().parents[2] / "data"
DETECTOR = Path(__file__).resolve().parents[3] / "model_repository/face_detector/1/model.onnx"


@pytest.fixture(scope="module")
def grpc_target(model_path: Path, grpc_live_server: Callable[..., tuple[Any, str]]) -> str:
    if not DETECTOR.is_file():
        pytest.skip(f"{DETECTOR} missing: run `make model`")
    _, target = grpc_live_server({"FACEMESH_TRACKING_MAX_SESSIONS": "1"})
    return target


def _frames(payloads: list[bytes]) -> Iterator[Any]:
    from service.tracking import tracking_pb2

    for payload in payloads:
        yield tracking_pb2.Frame(image=payload, max_faces=1)


@pytest.mark.slow
def test_stream_answers_every_frame_in_order(grpc_target: str) -> None:
    from service.tracking import tracking_pb2_grpc

    face = (DATA / "frames" / "lenna.png").read_bytes()
    payloads = [face, face, b"not an image", face, face]
    with grpc.insecure_channel(grpc_target) as channel:
        stub = tracking_pb2_grpc.FaceTrackingStub(channel)
        results = list(stub.Track(_frames(payloads), timeout=120))
    assert [r.frame_index for r in results] == [0, 1, 2, 3, 4]
    assert results[2].error.code == "not_an_image" and not results[2].faces
    ok = [r for r in results if not r.error.code]
    assert [r.detector_ran for r in ok] == [True, False, False, False]
    for result in ok:
        (face_result,) = result.faces
        assert (result.width, result.height) == (512, 512)
        assert len(face_result.landmarks) == 478 * 3 and len(face_result.lips_affine) == 6
    assert ok[0].faces[0].HasField("detection") and not ok[1].faces[0].HasField("detection")


@pytest.mark.slow
def test_sessions_are_bounded(grpc_target: str) -> None:
    from service.tracking import tracking_pb2, tracking_pb2_grpc

    face = (DATA / "frames" / "lenna.png").read_bytes()
    with grpc.insecure_channel(grpc_target) as channel:
        stub = tracking_pb2_grpc.FaceTrackingStub(channel)
        first = stub.Track(iter([tracking_pb2.Frame(image=face)] * 50), timeout=120)
        next(first)  # the first stream holds the only session slot
        with pytest.raises(grpc.RpcError) as refused:
            list(stub.Track(iter([tracking_pb2.Frame(image=face)]), timeout=60))
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        first.cancel()


@pytest.fixture(scope="module")
def keyed_grpc_target(model_path: Path, grpc_live_server: Callable[..., tuple[Any, str]]) -> str:
    """A gateway with API keys set: the gRPC stream needs one, as the /v1 routes do."""
    if not DETECTOR.is_file():
        pytest.skip(f"{DETECTOR} missing: run `make model`")
    _, target = grpc_live_server({"FACEMESH_API_KEYS": "k1,k2"})
    return target


@pytest.mark.slow
def test_api_keys_guard_the_stream(keyed_grpc_target: str) -> None:
    from service.tracking import tracking_pb2, tracking_pb2_grpc

    face = (DATA / "frames" / "lenna.png").read_bytes()
    with grpc.insecure_channel(keyed_grpc_target) as channel:
        stub = tracking_pb2_grpc.FaceTrackingStub(channel)
        refused_metadata = (
            (),
            (("x-api-key", "wrong"),),
            (("authorization", "Basic k1"),),
            # One rule with HTTP: a repeated key is refused, whichever copy is valid.
            (("x-api-key", "wrong"), ("x-api-key", "k1")),
            (("x-api-key", "k1"), ("x-api-key", "wrong")),
        )
        for metadata in refused_metadata:
            with pytest.raises(grpc.RpcError) as refused:
                list(stub.Track(iter([tracking_pb2.Frame(image=face)]), metadata=metadata))
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED, metadata
        for metadata in ((("x-api-key", "k2"),), (("authorization", "Bearer k1"),)):
            (result,) = stub.Track(
                iter([tracking_pb2.Frame(image=face)]), metadata=metadata, timeout=120
            )
            assert len(result.faces) == 1, metadata


@pytest.mark.slow
def test_rotation_search_is_chosen_per_stream(keyed_grpc_target: str) -> None:
    """``Frame.rotation_search`` on the first frame: unset keeps the server default (off:
    no face upside down, as MediaPipe); true finds it on the half-turned frame."""
    import io

    from PIL import Image

    from service.tracking import tracking_pb2, tracking_pb2_grpc

    buffer = io.BytesIO()
    Image.open(DATA / "frames" / "grace_hopper.jpg").rotate(180).save(buffer, format="PNG")
    upside_down = buffer.getvalue()
    metadata = (("x-api-key", "k1"),)
    with grpc.insecure_channel(keyed_grpc_target) as channel:
        stub = tracking_pb2_grpc.FaceTrackingStub(channel)
        (default,) = stub.Track(
            iter([tracking_pb2.Frame(image=upside_down)]), metadata=metadata, timeout=120
        )
        assert list(default.faces) == []
        searched = list(
            stub.Track(
                iter([tracking_pb2.Frame(image=upside_down, rotation_search=True)] * 2),
                metadata=metadata,
                timeout=120,
            )
        )
    assert searched[0].faces[0].detection.quarter_turns == 2
    # Frame 2 is tracked from frame 1's landmarks: no detection, same upright face.
    assert not searched[1].detector_ran and len(searched[1].faces) == 1
