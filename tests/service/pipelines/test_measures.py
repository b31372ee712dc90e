"""Result work from landmarks: every face's pose computed at once equals one by one, and an
answer limited to some fields gets only the work it shows."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from service.encoders.json_body import encode, frame_face_body
from service.pipelines.frames import FramePipeline
from service.pipelines.measures import with_pose
from service.pipelines.results import FrameResult
from service.processing import gaze
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


def _rays(found: gaze.Gaze) -> np.ndarray:
    camera = found.camera
    assert camera is not None
    head = found.head
    eyes = (camera.left, camera.right, camera.combined, head.left, head.right, head.combined)
    return np.concatenate(
        [np.ravel(ray.direction) for ray in eyes]
        + [np.ravel(ray.origin) for ray in eyes if ray.origin is not None]
    )


def test_every_faces_gaze_at_once_equals_one_by_one(frames: FramePipeline) -> None:
    """``frame_gazes`` gives each face exactly ``face_gaze``'s gaze, and None where it gives
    None (no pose, no landmarks), whatever the other faces."""
    frame = _frame(frames)
    width, height = frame.width, frame.height
    landmarks = [face.result.landmarks for face in frame.faces]
    poses = [estimate_pose(each, width, height, FOV) for each in landmarks]
    faces = [(landmarks[0], poses[0]), (landmarks[1], None), (None, poses[1])]
    faces += [(landmarks[2], poses[2]), (landmarks[1], poses[1])]
    together = gaze.frame_gazes(faces, width, height, FOV)
    alone = [gaze.face_gaze(each, pose, width, height, FOV) for each, pose in faces]
    assert [each is None for each in together] == [each is None for each in alone]
    assert [each is None for each in together] == [False, True, True, False, False]
    for got, want in zip(together, alone, strict=True):
        if got is not None and want is not None:
            np.testing.assert_array_equal(_rays(got), _rays(want))
            assert got.camera is not None and want.camera is not None
            assert got.camera.eyes_angle == want.camera.eyes_angle
