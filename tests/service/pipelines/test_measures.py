"""Result work from landmarks: every face's pose computed at once equals one by one, and an
answer limited to some fields gets only the work it shows."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from service.encoders.json_body import encode, frame_face_body
from service.pipelines.frames import FramePipeline
from service.pipelines.measures import with_pose
from service.pipelines.results import FrameResult
from service.processing.decode import decode_image
from service.processing.face_geometry import estimate_pose
from service.processing.gaze import face_gaze, face_iris_distance
from tests.service.imagekit import DATA

FOV = 63.0


def _frame(frames: FramePipeline) -> FrameResult:
    image = decode_image(
        (DATA / "frames" / "dlib_2008_001322.jpg").read_bytes(), min_side=1, max_pixels=10**8
    )
    frame = frames.process(image, max_faces=16)
    assert len(frame.faces) == 3
    return frame


def test_pose_gaze_and_iris_distance_equal_the_per_face_functions(frames: FramePipeline) -> None:
    frame = _frame(frames)
    posed = with_pose(frame, FOV)
    for face in posed.faces:
        landmarks = face.result.landmarks
        pose = estimate_pose(landmarks, frame.width, frame.height, FOV)
        assert face.pose is not None
        np.testing.assert_array_equal(face.pose.matrix, pose.matrix)
        assert (face.pose.pitch, face.pose.yaw, face.pose.roll) == (pose.pitch, pose.yaw, pose.roll)
        alone = replace(
            face,
            pose=pose,
            gaze=face_gaze(landmarks, pose, frame.width, frame.height, FOV),
            iris_distance=face_iris_distance(landmarks, frame.width, frame.height, FOV),
        )
        assert face.gaze is not None and alone.gaze is not None
        assert encode(frame_face_body(face)) == encode(frame_face_body(alone))


def test_fields_skip_the_work_they_do_not_show(frames: FramePipeline) -> None:
    frame = _frame(frames)
    full = with_pose(frame, FOV)
    assert with_pose(frame, FOV, frozenset({"landmarks", "roi"})) is frame
    iris_only = with_pose(frame, FOV, frozenset({"iris_distance"}))
    assert all(face.pose is None and face.gaze is None for face in iris_only.faces)
    assert [face.iris_distance for face in iris_only.faces] == [
        face.iris_distance for face in full.faces
    ]
    gaze_only = with_pose(frame, FOV, frozenset({"gaze"}))
    for got, want in zip(gaze_only.faces, full.faces, strict=True):
        assert got.iris_distance is None and got.gaze is not None
        assert encode(frame_face_body(got, frozenset({"gaze"}))) == encode(
            frame_face_body(want, frozenset({"gaze"}))
        )
