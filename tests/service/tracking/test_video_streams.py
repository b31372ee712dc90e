"""Face IDs, smoothing and head pose over the real transports: ``POST /v1/frame`` (httpx),
the WebSocket ``/v1/track`` (``websockets`` client) and the gRPC ``Track`` stream (grpcio),
all against one real ``python -m service``; the WebSocket and gRPC answers must agree."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest

from service.api import schemas
from tests.service.tracking.conftest import noisy_photo_clip, track_over_websocket
from tools.servers.gateway import LiveServer

DATA = Path(__file__).resolve().parents[2] / "data"


@pytest.fixture(scope="module")
def noisy_clip() -> list[bytes]:
    """Six frames of a still real photo, each with fresh noise (so smoothing shows)."""
    return noisy_photo_clip("lenna.png", 6, seed=7)


def _grpc(server: LiveServer, clip: list[bytes], **first: Any) -> list[Any]:
    from service.tracking import tracking_pb2, tracking_pb2_grpc

    def frames() -> Iterator[Any]:
        for index, payload in enumerate(clip):
            yield tracking_pb2.Frame(image=payload, **(first if index == 0 else {}))

    with grpc.insecure_channel(server.env["grpc_target"]) as channel:
        stub = tracking_pb2_grpc.FaceTrackingStub(channel)
        return list(stub.Track(frames(), timeout=120))


def _face(answer: dict[str, Any]) -> dict[str, Any]:
    (face,) = answer["faces"]
    return face


@pytest.mark.slow
def test_v1_frame_has_a_pose_and_no_face_id(server: LiveServer) -> None:
    body = (DATA / "frames" / "dlib_2008_001322.jpg").read_bytes()
    headers = {"Content-Type": "image/jpeg"}
    client = server.client()
    response = client.post("/v1/frame", content=body, headers=headers)
    assert response.status_code == 200
    data = response.json()
    schemas.FrameResponse.model_validate(data)
    assert len(data["faces"]) == 3
    for face in data["faces"]:
        assert face["face_id"] is None
        matrix = np.array(face["pose"]["matrix"])
        assert matrix.shape == (4, 4) and np.allclose(matrix[3], [0, 0, 0, 1])
        assert matrix[2, 3] < 0  # in front of the camera
        assert set(face["pose"]["euler_degrees"]) == {"pitch", "yaw", "roll"}
    narrow = client.post("/v1/frame?fov_degrees=30", content=body, headers=headers).json()
    # A narrower field of view puts the same faces farther away.
    for wide_face, narrow_face in zip(data["faces"], narrow["faces"], strict=True):
        assert narrow_face["pose"]["matrix"][2][3] < 1.5 * wide_face["pose"]["matrix"][2][3]
    for bad in ("0", "180", "abc"):
        refused = client.post(f"/v1/frame?fov_degrees={bad}", content=body, headers=headers)
        assert refused.status_code == 422
        assert refused.json()["error"]["code"] == "validation_error"


@pytest.mark.slow
def test_websocket_smoothing_is_on_by_default_and_off_per_session(
    server: LiveServer, noisy_clip: list[bytes]
) -> None:
    smoothed = track_over_websocket(server, noisy_clip)
    raw = track_over_websocket(server, noisy_clip, "?smoothing=false")
    assert len({_face(a)["face_id"] for a in smoothed}) == 1
    assert _face(smoothed[0])["landmarks"] == _face(raw[0])["landmarks"]  # first passes
    for a, b in zip(smoothed[1:], raw[1:], strict=True):
        moved = np.abs(np.array(_face(a)["landmarks"]) - np.array(_face(b)["landmarks"]))
        assert moved.max() > 0.05
        # Both sessions cut each frame from the same ROI: it comes from the raw landmarks.
        assert _face(a)["roi"] == _face(b)["roi"]
        assert _face(a)["pose"] != _face(b)["pose"]  # pose from the smoothed landmarks


@pytest.mark.slow
@pytest.mark.parametrize("smoothing", [True, False])
def test_websocket_and_grpc_answers_agree(
    server: LiveServer, noisy_clip: list[bytes], smoothing: bool
) -> None:
    ws = track_over_websocket(server, noisy_clip, "" if smoothing else "?smoothing=false")
    rpc = _grpc(server, noisy_clip, smoothing=smoothing, max_faces=1)
    assert len(ws) == len(rpc)
    for answer, message in zip(ws, rpc, strict=True):
        face, (out,) = _face(answer), message.faces
        assert face["face_id"] == out.face_id and out.face_id > 0
        assert np.allclose(np.ravel(face["landmarks"]), out.landmarks, atol=2e-3)
        assert np.allclose(np.ravel(face["pose"]["matrix"]), out.pose.matrix, atol=1e-3)
        euler = face["pose"]["euler_degrees"]
        got = out.pose.euler_degrees
        assert np.allclose(
            [euler["pitch"], euler["yaw"], euler["roll"]],
            [got.pitch, got.yaw, got.roll],
            atol=1e-3,
        )


@pytest.mark.slow
def test_grpc_fov_is_read_on_the_first_frame(server: LiveServer, noisy_clip: list[bytes]) -> None:
    default = _grpc(server, noisy_clip[:1])
    narrow = _grpc(server, noisy_clip[:1], fov_degrees=30.0)
    assert narrow[0].faces[0].pose.matrix[11] < 1.5 * default[0].faces[0].pose.matrix[11]
    with pytest.raises(grpc.RpcError) as refused:
        _grpc(server, noisy_clip[:1], fov_degrees=200.0)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT


FULL_DETECTOR = Path(__file__).resolve().parents[3] / (
    "model_repository/face_detector_full_range/1/model.onnx"
)


@pytest.mark.slow
def test_v1_frame_detector_query_parameter(
    server: LiveServer, live_server: Callable[[Mapping[str, str]], Any]
) -> None:
    """``?detector=full`` finds the three faces of t1.jpg the short-range default misses;
    an unknown or unloaded detector is a 422."""
    if not FULL_DETECTOR.is_file():
        pytest.skip(f"{FULL_DETECTOR} missing: run `make model`")
    body = (DATA / "frames" / "t1.jpg").read_bytes()
    headers = {"Content-Type": "image/jpeg"}
    client = server.client()
    assert client.post("/v1/frame", content=body, headers=headers).json()["faces"] == []
    full = client.post("/v1/frame?detector=full", content=body, headers=headers)
    assert full.status_code == 200
    faces = full.json()["faces"]
    assert len(faces) == 3 and all(len(f["landmarks"]) == 478 for f in faces)
    bogus = client.post("/v1/frame?detector=long", content=body, headers=headers)
    assert bogus.status_code == 422 and bogus.json()["error"]["code"] == "validation_error"
    without = live_server({"FACEMESH_DETECTOR_FULL_MODEL_PATH": "/nonexistent/model.onnx"})
    refused = without.client().post("/v1/frame?detector=full", content=body, headers=headers)
    assert refused.status_code == 422
    assert refused.json()["error"]["message"].startswith("query.detector: detector 'full'")
    assert "not loaded" in refused.json()["error"]["message"]
