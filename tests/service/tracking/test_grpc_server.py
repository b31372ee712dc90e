"""The gRPC tracking stream (``service/tracking/grpc_server.py``) against a real
``python -m service`` and a real grpcio client: answers, bounds, keys, and the stream's life
from the server's side (idle and frameless streams ended, frame sizes, bytes that are not
protobuf)."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from PIL import Image

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


# The stream's life: short timeouts so a test waits seconds, a body limit above grpcio's
# default 4 MiB receive limit.
LIFECYCLE = {
    "FACEMESH_TRACKING_MAX_SESSIONS": "2",
    "FACEMESH_TRACKING_SESSION_TTL_S": "2",
    "FACEMESH_TRACKING_FIRST_FRAME_TIMEOUT_S": "1",
    "FACEMESH_MAX_BODY_BYTES": str(6_000_000),
    "FACEMESH_LOG_LEVEL": "info",
}
WAIT_S = 30  # client deadline: an upper bound on waiting, never a timing assertion


@pytest.fixture(scope="module")
def lifecycle(model_path: Path, grpc_live_server: Callable[..., tuple[Any, str]]) -> Any:
    if not DETECTOR.is_file():
        pytest.skip(f"{DETECTOR} missing: run `make model`")
    return grpc_live_server(LIFECYCLE)


def _then_hold(frames: list[Any], release: threading.Event) -> Iterator[Any]:
    """Send ``frames``, then keep the client's side open (send nothing) until ``release``."""
    yield from frames
    release.wait(WAIT_S)


def _noise_png(side: int) -> bytes:
    noise = np.random.default_rng(side).integers(0, 256, (side, side, 3), np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, format="PNG", compress_level=0)
    return buffer.getvalue()


@pytest.mark.slow
def test_an_idle_stream_is_ended_by_the_server_with_aborted(lifecycle: Any) -> None:
    """Past the TTL the server ends the stream itself (today's code only freed the slot and
    answered ABORTED at the client's next frame, so the client waited for ever)."""
    from service.tracking import tracking_pb2, tracking_pb2_grpc

    _, target = lifecycle
    face = (DATA / "frames" / "lenna.png").read_bytes()
    release = threading.Event()
    with grpc.insecure_channel(target) as channel:
        stub = tracking_pb2_grpc.FaceTrackingStub(channel)
        responses = stub.Track(
            _then_hold([tracking_pb2.Frame(image=face)], release), timeout=WAIT_S
        )
        try:
            assert len(next(responses).faces) == 1
            with pytest.raises(grpc.RpcError) as ended:
                next(responses)
        finally:
            release.set()
    assert ended.value.code() == grpc.StatusCode.ABORTED, ended.value.details()
    assert "expired" in (ended.value.details() or "")


@pytest.mark.slow
def test_a_stream_without_a_first_frame_is_ended(lifecycle: Any) -> None:
    from service.tracking import tracking_pb2_grpc

    _, target = lifecycle
    release = threading.Event()
    with grpc.insecure_channel(target) as channel:
        stub = tracking_pb2_grpc.FaceTrackingStub(channel)
        try:
            with pytest.raises(grpc.RpcError) as ended:
                list(stub.Track(_then_hold([], release), timeout=WAIT_S))
        finally:
            release.set()
    assert ended.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "no frame within 1 s" in (ended.value.details() or "")  # the server's, not ours


@pytest.mark.slow
def test_streams_waiting_for_a_first_frame_are_bounded(lifecycle: Any) -> None:
    """At most FACEMESH_TRACKING_MAX_SESSIONS (2) streams may wait for their first frame:
    the third is refused at once."""
    from service.tracking import tracking_pb2_grpc

    _, target = lifecycle
    release = threading.Event()
    with grpc.insecure_channel(target) as channel:
        stub = tracking_pb2_grpc.FaceTrackingStub(channel)
        waiting = [stub.Track(_then_hold([], release), timeout=WAIT_S) for _ in range(2)]
        try:
            time.sleep(0.3)  # let both reach the server (not a timing assertion)
            with pytest.raises(grpc.RpcError) as refused:
                list(stub.Track(_then_hold([], release), timeout=WAIT_S))
        finally:
            release.set()
            for call in waiting:
                call.cancel()
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


@pytest.mark.slow
def test_frames_are_held_to_the_body_limit_not_grpcios_4_mib(lifecycle: Any) -> None:
    """A 5 MB frame (under FACEMESH_MAX_BODY_BYTES, over grpcio's default 4 MiB) is served;
    one over the body limit is answered in band and the stream goes on; a message past the
    limit plus the envelope ends the stream with RESOURCE_EXHAUSTED, as documented."""
    from service.tracking import tracking_pb2, tracking_pb2_grpc
    from service.tracking.grpc_server import MESSAGE_ENVELOPE_BYTES

    _, target = lifecycle
    limit = int(LIFECYCLE["FACEMESH_MAX_BODY_BYTES"])
    served = _noise_png(1300)
    assert 4 * 2**20 < len(served) < limit
    over = served + b"\0" * (limit + 1 - len(served))
    face = (DATA / "frames" / "lenna.png").read_bytes()
    frames = [tracking_pb2.Frame(image=payload) for payload in (served, over, face)]
    with grpc.insecure_channel(target, options=[("grpc.max_send_message_length", -1)]) as channel:
        stub = tracking_pb2_grpc.FaceTrackingStub(channel)
        results = list(stub.Track(iter(frames), timeout=WAIT_S * 4))
        assert [r.error.code for r in results] == ["", "body_too_large", ""]
        assert (results[0].width, results[0].height) == (1300, 1300)
        assert len(results[2].faces) == 1
        too_big = tracking_pb2.Frame(image=b"\0" * (limit + MESSAGE_ENVELOPE_BYTES + 1))
        with pytest.raises(grpc.RpcError) as ended:
            list(stub.Track(iter([too_big]), timeout=WAIT_S))
    assert ended.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


@pytest.mark.slow
def test_bytes_that_are_not_protobuf_are_invalid_argument_logged_at_info(
    lifecycle: Any,
) -> None:
    server, target = lifecycle
    with grpc.insecure_channel(target) as channel:
        raw = channel.stream_stream(
            "/facemesh.tracking.v1.FaceTracking/Track",
            request_serializer=lambda data: data,
            response_deserializer=lambda data: data,
        )
        with pytest.raises(grpc.RpcError) as ended:
            list(raw(iter([b"\xff\xff\xff\xff not a protobuf"]), timeout=WAIT_S))
    assert ended.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    log = server.log()
    assert "a message that is not a Frame" in log
    assert "Traceback" not in log and "DecodeError" not in log


@pytest.mark.slow
@pytest.mark.parametrize("fov", [1e-300, 0.5, 170.0])
def test_a_fov_outside_the_camera_range_is_invalid_argument(lifecycle: Any, fov: float) -> None:
    from service.tracking import tracking_pb2, tracking_pb2_grpc

    server, target = lifecycle
    face = (DATA / "frames" / "lenna.png").read_bytes()
    with grpc.insecure_channel(target) as channel:
        stub = tracking_pb2_grpc.FaceTrackingStub(channel)
        with pytest.raises(grpc.RpcError) as refused:
            list(
                stub.Track(iter([tracking_pb2.Frame(image=face, fov_degrees=fov)]), timeout=WAIT_S)
            )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "fov_degrees" in (refused.value.details() or "")
    assert "Traceback" not in server.log()


def test_a_second_gateway_on_the_same_grpc_port_fails_to_start(
    model_path: Path, grpc_live_server: Callable[..., tuple[Any, str]], tmp_path: Path
) -> None:
    """grpcio binds with SO_REUSEPORT unless told not to: a second gateway on the same gRPC
    port used to start without a word and take a share of new channels."""
    from service.tracking import tracking_pb2, tracking_pb2_grpc
    from tools.servers.gateway import launch
    from tools.servers.ports import free_port

    first, target = grpc_live_server({})
    port = target.rsplit(":", 1)[1]
    settings = {"FACEMESH_GRPC_ENABLED": "true", "FACEMESH_GRPC_PORT": port}
    second = launch(settings, tmp_path / "second.log", free_port())
    try:
        ready = second.wait_ready()
    finally:
        code = second.stop()
    assert not ready and code != 0
    assert f"cannot bind the gRPC server to 127.0.0.1:{port}: the address is in use" in (
        second.log()
    )
    # The first gateway still owns its port and answers on it.
    with grpc.insecure_channel(target) as channel:
        stub = tracking_pb2_grpc.FaceTrackingStub(channel)
        (result,) = stub.Track(iter([tracking_pb2.Frame(image=b"x")]), timeout=60)
    assert result.error.code == "not_an_image"
    assert first.process.poll() is None


def test_the_port_check_before_workers_share_it() -> None:
    """``python -m service`` with several workers checks the gRPC port once, since its workers
    bind it with SO_REUSEPORT and would not see another gateway (one holds it here)."""
    import socket

    from service.core.config import Settings
    from service.tracking.grpc_server import GrpcPortInUseError, check_grpc_port_free
    from tools.servers.ports import LOOPBACK

    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)  # as grpcio does
        holder.bind((LOOPBACK, 0))
        holder.listen()
        port = holder.getsockname()[1]
        settings = Settings(host=LOOPBACK, grpc_port=port, workers=2)
        with pytest.raises(GrpcPortInUseError, match=f"{LOOPBACK}:{port}"):
            check_grpc_port_free(settings)
    check_grpc_port_free(settings)  # free again
