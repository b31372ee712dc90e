"""``service/pipelines/measures.py``: the result work on landmarks (pose, gaze and iris
distance of frame faces for a given camera; head gaze of crops), on a real frame's faces."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from service.pipelines.frames import FramePipeline
from service.pipelines.measures import crop_faces, with_pose
from service.pipelines.results import FrameResult
from service.processing.decode import decode_image
from tests.service.imagekit import DATA


@pytest.fixture(scope="module")
def frame(frames: FramePipeline) -> FrameResult:
    image = decode_image(
        (DATA / "frames" / "dlib_2008_001009.jpg").read_bytes(), min_side=32, max_pixels=10**8
    )
    found = frames.process(image, 1)
    assert found.faces and found.faces[0].pose is None  # the landmark steps give no pose
    return found


def test_each_face_gets_a_pose_gaze_and_iris_distance(frame: FrameResult) -> None:
    measured = with_pose(frame, 63.0).faces[0]
    assert measured.pose is not None and measured.gaze is not None
    assert measured.iris_distance is not None
    assert measured.pose.matrix[2, 3] < 0  # in front of the camera
    assert measured.result is frame.faces[0].result  # the landmarks are not touched


def test_the_camera_is_the_callers(frame: FrameResult) -> None:
    """A wider field of view puts the same face nearer the camera."""
    narrow = with_pose(frame, 40.0).faces[0]
    wide = with_pose(frame, 90.0).faces[0]
    assert narrow.pose is not None and wide.pose is not None
    assert -wide.pose.matrix[2, 3] < -narrow.pose.matrix[2, 3]
    assert narrow.iris_distance is not None and wide.iris_distance is not None
    assert wide.iris_distance.left < narrow.iris_distance.left


def test_a_face_whose_landmarks_give_no_pose_keeps_none(frame: FrameResult) -> None:
    flat = replace(frame.faces[0].result, landmarks=np.full((478, 3), 5.0))
    measured = with_pose(replace(frame, faces=[replace(frame.faces[0], result=flat)]), 63.0)
    assert measured.faces[0].pose is None and measured.faces[0].gaze is None


def test_crops_get_a_head_gaze_when_they_have_landmarks(frame: FrameResult) -> None:
    found = frame.faces[0].result
    below = replace(found, landmarks=None, regions=None, score=0.0)
    faces = crop_faces([found, below])
    assert [face.result for face in faces] == [found, below]
    assert faces[0].gaze is not None and faces[1].gaze is None
