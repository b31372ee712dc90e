"""Gaze and iris distance over every transport, against one real ``python -m service``:
``POST /v1/frame`` and ``/v1/crop`` (httpx), the WebSocket ``/v1/track`` and the gRPC
``Track`` stream; the streams' gaze comes from the smoothed landmarks, as the pose does."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest

from service.api import schemas
from tests.service.tracking.conftest import noisy_photo_clip, track_over_websocket
from tools.servers.gateway import LiveServer

DATA = Path(__file__).resolve().parents[2] / "data"
RAYS = ("left", "right", "combined")


@pytest.fixture(scope="module")
def clip() -> list[bytes]:
    """Four frames of a still photo with fresh noise each (so smoothing shows)."""
    return noisy_photo_clip("lenna.png", 4, seed=11)


def _unit(values: Any) -> np.ndarray:
    vector = np.asarray(values, dtype=float)
    assert vector.shape == (3,) and np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-4)
    return vector


def _check_angles(ray: dict[str, Any]) -> None:
    x, y, z = _unit(ray["direction"])
    assert ray["yaw"] == pytest.approx(math.degrees(math.atan2(x, z)), abs=1e-3)
    assert ray["pitch"] == pytest.approx(math.degrees(math.asin(-y)), abs=1e-3)


@pytest.mark.slow
def test_v1_frame_has_gaze_head_gaze_and_iris_distance(server: LiveServer) -> None:
    response = server.client().post(
        "/v1/frame",
        content=(DATA / "frames" / "dlib_2008_001322.jpg").read_bytes(),
        headers={"Content-Type": "image/jpeg"},
    )
    assert response.status_code == 200
    data = response.json()
    schemas.FrameResponse.model_validate(data)
    assert len(data["faces"]) == 3
    for face in data["faces"]:
        gaze, head = face["gaze"], face["head_gaze"]
        for name in RAYS:
            _check_angles(gaze[name])
            _check_angles(head[name])
            assert "eyeball_center" not in head[name]
        left, right = (np.array(gaze[eye]["eyeball_center"]) for eye in ("left", "right"))
        assert left[2] < 0 and right[2] < 0  # in front of the camera
        assert left[0] < right[0]  # the left eye is on the image's left
        np.testing.assert_allclose(
            gaze["combined"]["eyeball_center"], (left + right) / 2, atol=1e-4
        )
        # Same eyes in both frames: the head's rotation maps one onto the other.
        rotation = np.array(face["pose"]["matrix"])[:3, :3]
        rotation /= np.cbrt(np.linalg.det(rotation))
        for name in RAYS:
            np.testing.assert_allclose(
                rotation @ np.array(head[name]["direction"]), gaze[name]["direction"], atol=1e-4
            )
        for eye, centre in (("left", left), ("right", right)):
            assert face["iris_distance"][eye] == pytest.approx(np.linalg.norm(centre), rel=0.3)
        # One face's eyes: their lines of sight agree in both frames alike.
        assert gaze["plausible"] and head["plausible"]
        assert gaze["eyes_angle"] == pytest.approx(head["eyes_angle"], abs=1e-3)


@pytest.mark.slow
def test_v1_crop_has_head_gaze_only(server: LiveServer) -> None:
    files = [
        ("image", ("a.png", (DATA / "crops" / "grace_hopper_face0.png").read_bytes(), "image/png")),
        ("image", ("b.png", (DATA / "nonfaces" / "coins.png").read_bytes(), "image/png")),
    ]
    response = server.client().post("/v1/crops", files=files)
    assert response.status_code == 200
    data = response.json()
    schemas.FacesResponse.model_validate(data)
    face, nonface = data["faces"]
    assert nonface["landmarks"] is None and nonface["head_gaze"] is None
    assert "gaze" not in face and "iris_distance" not in face  # no camera on crops
    for name in RAYS:
        _check_angles(face["head_gaze"][name])
    # Grace Hopper looks into the lens: her gaze is within 15 degrees of the viewing axis.
    yaw, pitch = face["head_gaze"]["combined"]["yaw"], face["head_gaze"]["combined"]["pitch"]
    assert abs(yaw) < 15 and abs(pitch) < 20
    assert face["head_gaze"]["plausible"] and face["head_gaze"]["eyes_angle"] < 60


def _grpc(server: LiveServer, clip: list[bytes]) -> list[Any]:
    from service.tracking import tracking_pb2, tracking_pb2_grpc

    def frames() -> Iterator[Any]:
        for index, payload in enumerate(clip):
            yield tracking_pb2.Frame(image=payload, **({"max_faces": 1} if index == 0 else {}))

    with grpc.insecure_channel(server.env["grpc_target"]) as channel:
        stub = tracking_pb2_grpc.FaceTrackingStub(channel)
        return list(stub.Track(frames(), timeout=120))


@pytest.mark.slow
def test_streams_agree_and_smooth_the_gaze(server: LiveServer, clip: list[bytes]) -> None:
    smoothed = track_over_websocket(server, clip)
    raw = track_over_websocket(server, clip, "?smoothing=false")
    rpc = _grpc(server, clip)
    assert len(smoothed) == len(raw) == len(rpc) == len(clip)
    for index, (answer, unsmoothed, message) in enumerate(zip(smoothed, raw, rpc, strict=True)):
        (face,), (out,) = answer["faces"], message.faces
        for field in ("gaze", "head_gaze"):
            ours = getattr(out, field)
            for name in RAYS:
                ray, got = face[field][name], getattr(ours, name)
                np.testing.assert_allclose(ray["direction"], got.direction, atol=1e-4)
                assert (ray["yaw"], ray["pitch"]) == pytest.approx((got.yaw, got.pitch), abs=1e-3)
                if field == "gaze":
                    np.testing.assert_allclose(ray["eyeball_center"], got.eyeball_center, atol=1e-3)
                else:
                    assert list(got.eyeball_center) == []
        iris = face["iris_distance"]
        assert (iris["left"], iris["right"]) == pytest.approx(
            (out.iris_distance.left, out.iris_distance.right), abs=1e-3
        )
        # The first frame passes the filter unchanged; later ones are smoothed landmarks'.
        other = unsmoothed["faces"][0]["gaze"]
        assert (face["gaze"] == other) is (index == 0)


@pytest.mark.slow
def test_openapi_documents_gaze_and_iris_distance(server: LiveServer) -> None:
    components = server.client().get("/openapi.json").json()["components"]["schemas"]
    assert {"Gaze", "HeadGaze", "EyeGaze", "GazeAngles", "IrisDistance"} <= set(components)
    assert {"gaze", "head_gaze", "iris_distance"} <= set(components["FrameFace"]["properties"])
    assert "head_gaze" in components["Face"]["properties"]
    assert "eyeball_center" in components["EyeGaze"]["properties"]
