"""Head pose (MediaPipe's face geometry pipeline): synthetic round trips, the Procrustes solver,
and real photos turned in-plane and mirrored through the real frame pipeline.

Figures are printed (``pytest -s``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from service.core.config import CAMERA_FOV_DEGREES_MAX, CAMERA_FOV_DEGREES_MIN
from service.pipelines.frames import FramePipeline
from service.processing import face_geometry as geometry
from service.processing.decode import decode_image

DATA = Path(__file__).resolve().parents[2] / "data"
ANGLE_TOLERANCE = 0.5  # degrees, synthetic round trip (issue 14)
DISTANCE_TOLERANCE = 0.01  # of the distance, synthetic round trip
ROLL_TOLERANCE = 2.0  # degrees, real photos turned in-plane


def _pose_matrix(pitch: float, yaw: float, roll: float, translation: list[float]) -> np.ndarray:
    matrix = np.eye(4)
    matrix[:3, :3] = geometry.rotation_from_euler(pitch, yaw, roll)
    matrix[:3, 3] = translation
    return matrix


def test_the_canonical_face_loads() -> None:
    face = geometry.canonical_face()
    assert face.points.shape == (3, 468)
    assert np.count_nonzero(face.weights) == 33
    # The nose tip (landmark 4) sits in front of the face (+z), eyes above the mouth (+y).
    assert face.points[2, 4] > face.points[2].mean() and face.points[1, 33] > face.points[1, 13]


@pytest.mark.parametrize(
    ("pitch", "yaw", "roll", "translation", "size", "fov"),
    [
        (0.0, 0.0, 0.0, [0.0, 0.0, -50.0], (640, 480), 63.0),
        (12.0, -25.0, 8.0, [4.0, -3.0, -45.0], (640, 480), 63.0),
        (-20.0, 35.0, -15.0, [-6.0, 5.0, -80.0], (1280, 720), 63.0),
        (5.0, 10.0, 30.0, [2.0, 1.0, -35.0], (480, 640), 45.0),
        (-8.0, -40.0, 2.0, [-3.0, 2.0, -60.0], (512, 512), 90.0),
    ],
)
def test_synthetic_round_trip(
    pitch: float,
    yaw: float,
    roll: float,
    translation: list[float],
    size: tuple[int, int],
    fov: float,
) -> None:
    """The canonical face posed by a known matrix, projected with the perspective camera into
    screen landmarks (relative z, as the landmark model gives it), comes back as that pose."""
    width, height = size
    truth = _pose_matrix(pitch, yaw, roll, translation)
    landmarks = geometry.project_canonical(truth, width, height, fov)
    pose = geometry.estimate_pose(landmarks, width, height, fov)
    got = np.array([pose.pitch, pose.yaw, pose.roll])
    angle_error = np.abs(got - [pitch, yaw, roll]).max()
    distance = float(np.linalg.norm(translation))
    distance_error = float(np.linalg.norm(pose.matrix[:3, 3] - translation)) / distance
    print(
        f"\npose round trip {size} fov {fov}: euler {got.round(4)} (max error "
        f"{angle_error:.2e} deg), translation error {distance_error:.2e} of {distance:.1f} cm"
    )
    assert angle_error <= ANGLE_TOLERANCE
    assert distance_error <= DISTANCE_TOLERANCE
    assert np.allclose(pose.matrix[3], [0, 0, 0, 1])


def test_a_wrong_fov_gives_a_wrong_distance() -> None:
    """The field of view matters (not ignored): the same screen landmarks read with a wider
    camera put the face nearer."""
    truth = _pose_matrix(0, 10, 0, [0, 0, -50])
    landmarks = geometry.project_canonical(truth, 640, 480, 63.0)
    wide = geometry.estimate_pose(landmarks, 640, 480, 90.0)
    assert -wide.matrix[2, 3] < 40.0


def test_procrustes_recovers_a_similarity_transform() -> None:
    rng = np.random.default_rng(3)
    source = rng.normal(size=(3, 40))
    weights = rng.uniform(0.1, 1.0, size=40)
    truth = np.eye(4)
    truth[:3, :3] = 1.7 * geometry.rotation_from_euler(30, -50, 70)
    truth[:3, 3] = [1.0, -2.0, 3.0]
    target = truth[:3, :3] @ source + truth[:3, 3:]
    assert np.allclose(geometry.solve_weighted_orthogonal(source, target, weights), truth)
    # Points with zero weight do not pull the fit.
    target[:, 0] += 100.0
    weights[0] = 0.0
    assert np.allclose(geometry.solve_weighted_orthogonal(source, target, weights), truth)


def test_euler_angles_round_trip() -> None:
    for angles in [(10.0, 20.0, 30.0), (-45.0, 60.0, -170.0), (0.0, -89.0, 5.0)]:
        got = geometry.euler_degrees(geometry.rotation_from_euler(*angles))
        assert np.allclose(got, angles, atol=1e-6)


def test_bad_landmarks_give_a_geometry_error() -> None:
    with pytest.raises(geometry.GeometryError):
        geometry.estimate_pose(np.zeros((10, 3)), 640, 480)
    with pytest.raises(geometry.GeometryError):  # all points on one spot
        geometry.estimate_pose(np.full((478, 3), 5.0), 640, 480)
    nan = geometry.project_canonical(_pose_matrix(0, 0, 0, [0, 0, -50]), 640, 480)
    nan[3, 0] = math.nan
    with pytest.raises(geometry.GeometryError):
        geometry.estimate_pose(nan, 640, 480)
    with pytest.raises(geometry.GeometryError):
        geometry.Frustum.for_frame(640, 480, 180.0)
    with pytest.raises(geometry.GeometryError):
        geometry.parse_metadata("input_source: FACE_LANDMARK_PIPELINE")


def _pose(frames: FramePipeline, image: np.ndarray) -> geometry.HeadPose:
    result = frames.with_pose(frames.process(image, 1))
    (face,) = result.faces
    assert face.pose is not None
    return face.pose


def _turned(image: np.ndarray, degrees: float) -> np.ndarray:
    """``image`` turned counter-clockwise on screen by ``degrees`` about its centre."""
    height, width = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2.0, height / 2.0), degrees, 1.0)
    return cv2.warpAffine(image, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE)


def _photo(name: str) -> np.ndarray:
    return decode_image((DATA / "frames" / name).read_bytes(), min_side=1, max_pixels=10**8)


@pytest.mark.parametrize("name", ["lenna.png", "grace_hopper.jpg", "takeo.png"])
def test_real_photo_turned_in_plane(frames: FramePipeline, name: str) -> None:
    """Turning the photo in-plane by +-20 degrees changes roll by that angle."""
    image = _photo(name)
    base = _pose(frames, image)
    print(
        f"\n{name}: pitch {base.pitch:.2f} yaw {base.yaw:.2f} roll {base.roll:.2f}, "
        f"distance {np.linalg.norm(base.matrix[:3, 3]):.1f} cm"
    )
    for degrees in (20.0, -20.0):
        turned = _pose(frames, _turned(image, degrees))
        change = turned.roll - base.roll
        print(
            f"  turned {degrees:+.0f}: roll change {change:+.2f} (yaw change "
            f"{turned.yaw - base.yaw:+.2f}, pitch change {turned.pitch - base.pitch:+.2f})"
        )
        assert abs(change - degrees) <= ROLL_TOLERANCE


@pytest.mark.parametrize("name", ["lenna.png", "takeo.png"])  # faces turned to one side
def test_mirrored_photo_flips_yaw(frames: FramePipeline, name: str) -> None:
    image = _photo(name)
    base = _pose(frames, image)
    mirrored = _pose(frames, np.ascontiguousarray(image[:, ::-1]))
    print(f"\n{name} mirrored: yaw {mirrored.yaw:.2f} (was {base.yaw:.2f})")
    assert abs(base.yaw) > 3.0, "the test needs a photo with a visible yaw"
    assert np.sign(mirrored.yaw) == -np.sign(base.yaw)
    assert abs(mirrored.yaw + base.yaw) <= max(2.0, 0.25 * abs(base.yaw))


GEOMETRY_GOLDENS = json.loads((DATA / "face_geometry_goldens.json").read_text())


@pytest.mark.parametrize(
    "golden",
    GEOMETRY_GOLDENS,
    ids=[
        f"{g['file']}-{i}-turn{g['turn_degrees']}{'-mirrored' if g['mirrored'] else ''}"
        for i, g in enumerate(GEOMETRY_GOLDENS)
    ],
)
def test_pose_matches_mediapipes_geometry_pipeline(golden: dict) -> None:
    """The same screen landmarks through MediaPipe's FaceGeometryPipelineCalculator (Tasks
    API, float32) and through ours give the same pose matrix."""
    landmarks = np.asarray(golden["landmarks"])
    expected = np.asarray(golden["mediapipe_matrix"])
    pose = geometry.estimate_pose(
        landmarks, golden["width"], golden["height"], golden["fov_degrees"]
    )
    rotation_error = float(np.abs(pose.matrix[:3, :3] - expected[:3, :3]).max())
    translation_error = float(np.abs(pose.matrix[:3, 3] - expected[:3, 3]).max())
    print(
        f"\n{golden['file']} vs MediaPipe: rotation/scale entries within {rotation_error:.2e}, "
        f"translation within {translation_error:.2e} cm of {np.linalg.norm(expected[:3, 3]):.1f}"
    )
    assert rotation_error <= 1e-4
    assert translation_error <= 1e-3


@pytest.mark.parametrize(
    ("what", "fov", "z"),
    [
        ("a tiny field of view", 1e-300, None),
        ("a field of view below a camera's", 0.5, None),
        ("a field of view above a camera's", 170.0, None),
        ("absurd depths", 63.0, 1e300),
        ("depths that are not finite", 63.0, np.inf),
        ("every point on one spot in depth", 63.0, -1e308),
    ],
)
def test_degenerate_input_gives_no_pose_never_another_error(
    what: str, fov: float, z: float | None
) -> None:
    """``estimate_pose`` on input that gives no pose raises ``GeometryError`` (the frame
    pipeline then returns the face without a pose), never ``LinAlgError`` or anything else."""
    landmarks = geometry.project_canonical(_pose_matrix(0, 0, 0, [0.0, 0.0, -50.0]), 640, 480)
    if z is not None:
        landmarks[:, 2] = z
        landmarks[0, 2] = -z if np.isfinite(z) else 0.0
    with pytest.raises(geometry.GeometryError):
        geometry.estimate_pose(landmarks, 640, 480, fov)


@pytest.mark.parametrize("value", [np.nan, np.inf, 1e308])
def test_the_procrustes_solve_refuses_targets_without_a_finite_fit(value: float) -> None:
    face = geometry.canonical_face()
    target = face.points * value
    with pytest.raises(geometry.GeometryError):
        geometry.solve_weighted_orthogonal(face.points, target, face.weights)


def test_the_camera_range_is_served() -> None:
    """Both ends of the documented range give a pose."""
    for fov in (CAMERA_FOV_DEGREES_MIN, CAMERA_FOV_DEGREES_MAX):
        truth = _pose_matrix(5.0, 10.0, 0.0, [0.0, 0.0, -50.0])
        landmarks = geometry.project_canonical(truth, 640, 480, fov)
        pose = geometry.estimate_pose(landmarks, 640, 480, fov)
        assert abs(pose.yaw - 10.0) < 0.5


def _poses_one_by_one(
    faces: list[np.ndarray], width: int, height: int, fov: float
) -> list[geometry.HeadPose | None]:
    poses: list[geometry.HeadPose | None] = []
    for landmarks in faces:
        try:
            poses.append(geometry.estimate_pose(landmarks, width, height, fov))
        except geometry.GeometryError:
            poses.append(None)
    return poses


def _assert_same_poses(
    together: list[geometry.HeadPose | None], alone: list[geometry.HeadPose | None]
) -> None:
    assert [pose is None for pose in together] == [pose is None for pose in alone]
    for got, want in zip(together, alone, strict=True):
        if got is None or want is None:
            continue
        np.testing.assert_allclose(got.matrix, want.matrix, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(
            [got.pitch, got.yaw, got.roll], [want.pitch, want.yaw, want.roll], rtol=0, atol=1e-10
        )


@pytest.mark.parametrize("name", ["dlib_2008_001322.jpg", "dlib_2009_004587.jpg", "lenna.png"])
def test_every_face_at_once_equals_one_by_one_on_photos(frames: FramePipeline, name: str) -> None:
    """``estimate_poses`` over a real frame's faces gives each face the pose
    ``estimate_pose`` gives it alone."""
    image = decode_image((DATA / "frames" / name).read_bytes(), min_side=1, max_pixels=10**8)
    height, width = image.shape[:2]
    faces = [face.result.landmarks for face in frames.process(image, max_faces=16).faces]
    assert faces
    for fov in (45.0, 63.0, 90.0):
        together = geometry.estimate_poses(faces, width, height, fov)
        _assert_same_poses(together, _poses_one_by_one(faces, width, height, fov))
        assert all(pose is not None for pose in together)


def test_faces_without_a_pose_leave_the_others_theirs() -> None:
    """Degenerate faces among good ones: None for them, the same poses for the others."""
    good = [
        geometry.project_canonical(_pose_matrix(p, y, r, t), 640, 480)
        for p, y, r, t in [(0, 0, 0, [0.0, 0.0, -50.0]), (12, -25, 8, [4.0, -3.0, -45.0])]
    ]
    compact = np.full((478, 3), 5.0)
    nan = good[0].copy()
    nan[7, 0] = np.nan
    huge = good[1].copy()
    huge[:, 2] = 1e300
    huge[0, 2] = -1e300
    faces = [good[0], compact, nan, good[1], huge, np.zeros((10, 3))]
    together = geometry.estimate_poses(faces, 640, 480, 63.0)
    _assert_same_poses(together, _poses_one_by_one(faces, 640, 480, 63.0))
    assert [pose is not None for pose in together] == [True, False, False, True, False, False]
    assert geometry.estimate_poses(good, 640, 480, 0.5) == [None, None]
    assert geometry.estimate_poses(faces[1:2], 640, 480, 63.0) == [None]
    assert geometry.estimate_poses([], 640, 480, 63.0) == []
