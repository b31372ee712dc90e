"""``POST /v1/frame`` answers on request (``service/api/routes/frames.py``), against a real
server: the binary answer (``Accept: application/x-protobuf``, the tracking proto's
``FrameResult``) carries the JSON answer's numbers, and ``?fields=`` limits each face to the
named parts (unknown names: 422 before the body is read)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from service.pipelines.results import FACE_FIELDS
from service.tracking import tracking_pb2
from tests.conftest import TEST_DATA

TWO_FACES = (TEST_DATA / "frames" / "dlib_2009_004587.jpg").read_bytes()
JPEG = {"content-type": "image/jpeg"}
ALWAYS = {"image", "score", "face_id"}


def _f32(values: Any) -> list[float]:
    return np.asarray(values, dtype=np.float32).ravel().tolist()


def test_the_binary_answer_carries_the_json_answers_numbers(gateway: Any) -> None:
    http = gateway.client()
    body = http.post("/v1/frame", content=TWO_FACES, headers=JPEG).json()
    answer = http.post(
        "/v1/frame", content=TWO_FACES, headers=JPEG | {"accept": "application/x-protobuf"}
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/x-protobuf"
    message = tracking_pb2.FrameResult.FromString(answer.content)
    assert (message.width, message.height) == (body["image"]["width"], body["image"]["height"])
    assert message.detector_ran == body["detector_ran"] and len(message.faces) == 2
    for face, out in zip(body["faces"], message.faces, strict=True):
        assert list(out.landmarks) == _f32(face["landmarks"])
        assert list(out.right_eye_affine) == _f32(face["regions"]["right_eye"]["affine"])
        assert list(out.pose.matrix) == _f32(face["pose"]["matrix"])
        assert list(out.gaze.left.direction) == _f32(face["gaze"]["left"]["direction"])
        assert out.iris_distance.right == _f32(face["iris_distance"]["right"])[0]
        assert list(out.detection.keypoints) == _f32(face["detection"]["keypoints"])


@pytest.mark.parametrize("fields", ["landmarks", "pose,gaze", "iris_distance,roi"])
def test_fields_limit_each_face_to_the_named_parts(gateway: Any, fields: str) -> None:
    http = gateway.client()
    full = http.post("/v1/frame", content=TWO_FACES, headers=JPEG).json()
    limited = http.post(f"/v1/frame?fields={fields}", content=TWO_FACES, headers=JPEG).json()
    named = set(fields.split(",")) | ({"head_gaze"} if "gaze" in fields else set())
    assert len(limited["faces"]) == len(full["faces"]) == 2
    for got, want in zip(limited["faces"], full["faces"], strict=True):
        assert set(got) == ALWAYS | named
        assert got == {key: want[key] for key in got}
    message = tracking_pb2.FrameResult.FromString(
        http.post(
            f"/v1/frame?fields={fields}",
            content=TWO_FACES,
            headers=JPEG | {"accept": "application/x-protobuf"},
        ).content
    )
    for out in message.faces:
        assert bool(out.landmarks) == ("landmarks" in named)
        assert out.HasField("pose") == ("pose" in named)
        assert out.HasField("gaze") == ("gaze" in named)
        assert out.HasField("iris_distance") == ("iris_distance" in named)
        assert out.HasField("detection") == ("detection" in named)


@pytest.mark.parametrize("fields", ["landmarks,colour", "", ","])
def test_unknown_fields_are_refused_before_the_body_is_read(gateway: Any, fields: str) -> None:
    answer = gateway.client().post(f"/v1/frame?fields={fields}", content=b"x", headers=JPEG)
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["code"] == "validation_error" and "fields" in error["message"]
    assert all(name in error["message"] for name in FACE_FIELDS)
