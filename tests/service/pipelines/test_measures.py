"""``service/pipelines/measures.py``: the result work on landmarks. Every face's pose computed
at once equals one by one, an answer limited to some fields gets only the work it shows, and
pose, gaze and iris distance follow the caller's camera; crops get a head gaze."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from service.encoders.json_body import encode, frame_face_body
from service.pipelines.frames import FramePipeline
from service.pipelines.measures import crop_faces, with_pose
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
        # The faces are solved together: the same numbers to within rounding.
        np.testing.assert_allclose(face.pose.matrix, pose.matrix, rtol=0, atol=1e-9)
        assert (face.pose.pitch, face.pose.yaw, face.pose.roll) == pytest.approx(
            (pose.pitch, pose.yaw, pose.roll), abs=1e-9
        )
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


def test_every_faces_pose_and_gaze_at_once_equal_one_by_one(frames: FramePipeline) -> None:
    """``frame_poses_and_gazes`` gives each face ``estimate_pose``'s pose and
    ``face_gaze``'s gaze (to within rounding), and None where they give None (no
    landmarks), whatever the other faces; without ``gaze`` the same poses and no gazes."""
    frame = _frame(frames)
    width, height = frame.width, frame.height
    found = [face.result.landmarks for face in frame.faces]
    landmarks = [found[0], None, found[2], found[1]]
    poses, gazes = gaze.frame_poses_and_gazes(landmarks, width, height, FOV)
    alone_poses = [
        None if each is None else estimate_pose(each, width, height, FOV) for each in landmarks
    ]
    alone = [
        gaze.face_gaze(each, pose, width, height, FOV)
        for each, pose in zip(landmarks, alone_poses, strict=True)
    ]
    assert [each is None for each in poses] == [False, True, False, False]
    assert [each is None for each in gazes] == [False, True, False, False]
    for got, want in zip(poses, alone_poses, strict=True):
        if got is not None and want is not None:
            np.testing.assert_allclose(got.matrix, want.matrix, rtol=0, atol=1e-9)
    for got_gaze, want_gaze in zip(gazes, alone, strict=True):
        if got_gaze is not None and want_gaze is not None:
            np.testing.assert_allclose(_rays(got_gaze), _rays(want_gaze), rtol=0, atol=1e-9)
            assert got_gaze.camera is not None and want_gaze.camera is not None
            assert got_gaze.camera.eyes_angle == pytest.approx(want_gaze.camera.eyes_angle)
    without, no_gazes = gaze.frame_poses_and_gazes(landmarks, width, height, FOV, gaze=False)
    assert no_gazes == [None] * 4
    for got, want in zip(without, poses, strict=True):
        assert (got is None) == (want is None)
        if got is not None and want is not None:
            np.testing.assert_array_equal(got.matrix, want.matrix)


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
