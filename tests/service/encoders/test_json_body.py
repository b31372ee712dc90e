"""``service/encoders/json_body.py``: real pipeline results as the JSON bodies of
``FacesResponse`` / ``FrameResponse``: every number rounded by the one rule, nulls where a
result has none, and the same body whether the face was detected or tracked."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import orjson

from service.api import schemas
from service.encoders.json_body import encode, faces_body, frame_body
from service.encoders.rounding import COORD_DECIMALS
from service.pipelines.frames import FramePipeline
from service.pipelines.measures import crop_faces
from service.pipelines.results import TrackState
from service.processing.decode import decode_image
from tests.service.imagekit import DATA

MODEL = {"name": "facemesh", "version": "1", "backend": "openvino", "pipeline": "attention"}


def _frame(name: str) -> np.ndarray:
    return decode_image((DATA / "frames" / name).read_bytes(), min_side=32, max_pixels=10**8)


def test_a_frame_body_rounds_and_validates(frames: FramePipeline) -> None:
    image = _frame("dlib_2008_001009.jpg")
    state = TrackState()
    detected = frames.with_pose(frames.process(image, 1, state))
    tracked = frames.with_pose(frames.process(image, 1, state))
    assert detected.detector_ran and not tracked.detector_ran
    for result in (detected, tracked):
        body = orjson.loads(encode(frame_body(result, MODEL)))
        schemas.FrameResponse.model_validate(body)
        face = body["faces"][0]
        landmarks = np.array(face["landmarks"])
        assert np.array_equal(landmarks, np.round(landmarks, COORD_DECIMALS))
        assert face["pose"] is not None
    assert orjson.loads(encode(frame_body(detected, MODEL)))["faces"][0]["detection"]
    assert orjson.loads(encode(frame_body(tracked, MODEL)))["faces"][0]["detection"] is None


def test_a_face_without_a_pose_has_null_pose_and_gaze(frames: FramePipeline) -> None:
    result = frames.with_pose(frames.process(_frame("dlib_2008_001009.jpg"), 1))
    no_pose = replace(result, faces=[replace(result.faces[0], pose=None, gaze=None)])
    face = orjson.loads(encode(frame_body(no_pose, MODEL)))["faces"][0]
    assert face["pose"] is None and face["gaze"] is None


def test_crop_bodies_follow_the_posting_order(frames: FramePipeline) -> None:
    found = frames.process(_frame("dlib_2008_001009.jpg"), 1).faces[0].result
    below = replace(found, score=0.0, landmarks=None, regions=None)
    body = orjson.loads(encode(faces_body(crop_faces([below, found]), MODEL)))
    schemas.FacesResponse.model_validate(body)
    assert [face["landmarks"] is None for face in body["faces"]] == [True, False]
    assert body["faces"][1]["head_gaze"] is not None
