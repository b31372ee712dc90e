"""Typed results from real gateway responses, and leniency: fields the client does not know
(a newer server's ``face_id``, ``pose``, regions, top-level keys) never break parsing."""

from __future__ import annotations

import copy
import json
from typing import Any

import numpy as np
import pytest
from facemesh_client import FacesResult, FrameResult

from tests.clients.helpers import CROPS, FRAMES


@pytest.fixture(scope="module")
def frame_body(gateway: Any) -> dict[str, Any]:
    response = gateway.client().post(
        "/v1/frame",
        content=(FRAMES / "dlib_2008_001322.jpg").read_bytes(),
        headers={"Content-Type": "image/jpeg"},
    )
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture(scope="module")
def crops_body(gateway: Any) -> dict[str, Any]:
    files = [
        ("image", ("a.png", (CROPS / "lenna_face0.png").read_bytes(), "image/png")),
        ("image", ("b.png", (CROPS / "../nonfaces/coins.png").read_bytes(), "image/png")),
    ]
    response = gateway.client().post("/v1/crops", files=files)
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def test_frame_result_holds_the_body_as_arrays(frame_body: dict[str, Any]) -> None:
    result = FrameResult.parse(frame_body, "rid")
    assert result.request_id == "rid" and result.detector_ran is frame_body["detector_ran"]
    assert (result.image.width, result.image.height) == tuple(frame_body["image"].values())
    assert len(result.faces) == len(frame_body["faces"]) == 3
    for face, raw in zip(result.faces, frame_body["faces"], strict=True):
        assert face.landmarks is not None
        np.testing.assert_array_equal(face.landmarks, np.asarray(raw["landmarks"]))
        assert face.detection is not None and face.roi is not None
        np.testing.assert_array_equal(face.detection.box, raw["detection"]["box"])
        assert face.roi.size == raw["roi"]["size"]
        assert face.face_id is None  # /v1/frame: no session, no face ID
        # /v1/frame carries the head pose (issue 14), parsed into arrays.
        assert face.pose is not None and face.pose.matrix is not None
        np.testing.assert_array_equal(face.pose.matrix, np.asarray(raw["pose"]["matrix"]))
        assert face.pose.euler_degrees == raw["pose"]["euler_degrees"]
        # ... and the gaze per eye, the head-relative gaze and the iris distance (issue 22).
        assert face.gaze is not None and face.head_gaze is not None
        for name in ("left", "right", "combined"):
            ray, head = getattr(face.gaze, name), getattr(face.head_gaze, name)
            assert ray is not None and head is not None
            np.testing.assert_array_equal(ray.direction, raw["gaze"][name]["direction"])
            assert ray.eyeball_center is not None and ray.eyeball_center.shape == (3,)
            assert (head.yaw, head.pitch) == (
                raw["head_gaze"][name]["yaw"],
                raw["head_gaze"][name]["pitch"],
            )
            assert head.eyeball_center is None
        assert face.iris_distance is not None
        assert face.iris_distance.left == raw["iris_distance"]["left"] > 0


def test_crops_result_null_face(crops_body: dict[str, Any]) -> None:
    result = FacesResult.parse(crops_body)
    assert result.faces[0].landmarks is not None and result.faces[0].regions is not None
    assert result.faces[1].landmarks is None and result.faces[1].regions is None
    head = result.faces[0].head_gaze  # crops: gaze relative to the head only
    assert head is not None and head.combined is not None
    assert head.combined.direction.shape == (3,) and head.combined.eyeball_center is None
    assert result.faces[1].head_gaze is None
    assert result.model.pipeline == "attention"


def test_unknown_and_future_fields_are_tolerated(frame_body: dict[str, Any]) -> None:
    body = copy.deepcopy(frame_body)
    body["session"] = {"id": "abc"}  # unknown top-level field
    body["model"]["precision"] = "fp16"
    pose = {
        "matrix": np.eye(4).tolist(),
        "euler_degrees": {"pitch": 1.5, "yaw": -3.0, "roll": 0.25},
        "fov_degrees": 63.0,
    }
    for index, face in enumerate(body["faces"]):
        face["face_id"] = 7 + index
        face["pose"] = pose
        face["blendshapes"] = [0.1, 0.2]
        face["regions"]["nose"] = {"landmarks": [[1.0, 2.0]], "affine": None, "extra": 1}
    body["faces"][1].pop("detection")  # an optional field missing altogether
    result = FrameResult.parse(json.loads(json.dumps(body)))
    face = result.faces[0]
    assert face.face_id == 7 and result.faces[2].face_id == 9
    assert face.pose is not None and face.pose.matrix is not None
    np.testing.assert_array_equal(face.pose.matrix, np.eye(4))
    assert face.pose.euler_degrees == {"pitch": 1.5, "yaw": -3.0, "roll": 0.25}
    assert face.pose.raw["fov_degrees"] == 63.0
    assert face.raw["blendshapes"] == [0.1, 0.2] and result.raw["session"] == {"id": "abc"}
    assert face.regions is not None and face.regions["nose"].landmarks.shape == (1, 2)
    assert "nose" in face.regions.names() and face.regions.lips is not None
    assert result.faces[1].detection is None and result.faces[1].roi is not None
    assert result.model.raw["precision"] == "fp16"


def test_empty_frame(gateway: Any) -> None:
    response = gateway.client().post(
        "/v1/frame",
        content=(FRAMES / "t1.jpg").read_bytes(),
        headers={"Content-Type": "image/jpeg"},
    )
    result = FrameResult.parse(response.json())
    assert result.faces == [] and result.detector_ran
