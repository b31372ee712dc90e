"""Gaze and iris distance on synthetic faces: MediaPipe's canonical face posed and projected
with known poses, its irises turned on the eyeball model by known angles, then recovered."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from service.contract import LEFT_IRIS, RIGHT_IRIS
from service.processing import gaze
from service.processing.face_geometry import (
    HeadPose,
    canonical_face,
    estimate_pose,
    pixel_rays,
    project_points,
    rotation_from_euler,
)

WIDTH, HEIGHT, FOV = 640, 480, 63.0
POSES = [  # (pitch, yaw, roll, x, y, z): degrees, cm
    (0.0, 0.0, 0.0, 0.0, 0.0, -50.0),
    (10.0, -25.0, 5.0, 6.0, -3.0, -60.0),
    (-15.0, 20.0, -20.0, -8.0, 5.0, -45.0),
    (5.0, 35.0, 10.0, 3.0, 2.0, -80.0),
]
# Far off the camera's axis (33 degrees), turned towards the camera: where reading the
# model's z as depth along the camera's axis went most wrong.
OFF_AXIS = (-20.0, -25.0, 0.0, 25.0, 15.0, -50.0)
GAZES = [(0.0, 0.0), (20.0, 0.0), (-15.0, 10.0), (10.0, -20.0), (-25.0, -15.0)]  # head frame


def _angle(a: np.ndarray, b: np.ndarray) -> float:
    return math.degrees(math.acos(max(-1.0, min(1.0, float(a @ b)))))


def _spread(points: np.ndarray) -> float:
    return float(np.sqrt(((points - points.mean(axis=0)) ** 2).sum(axis=1).mean()))


def _irises_in_head(
    yaw: float, pitch: float, sight: gaze.LineOfSight = gaze.LINE_OF_SIGHT
) -> list[np.ndarray]:
    """Each eye's 5 iris points (canonical face, cm) for a line of sight ``yaw``/``pitch``
    in the head frame: the optical axis is the line of sight with the eye's offsets undone."""
    line = gaze.direction_from_angles(yaw, pitch)
    points = []
    for centre, nasal in zip(gaze.eyeball_centres(), (1.0, -1.0), strict=True):
        optical = rotation_from_euler(sight.pitch, nasal * sight.nasal_yaw, 0.0).T @ line
        iris = centre + gaze.IRIS_PLANE_CM * optical
        side = np.cross([0.0, 1.0, 0.0], optical)
        side /= np.linalg.norm(side)
        up = np.cross(optical, side)
        r = gaze.IRIS_DIAMETER_CM / 2
        points.append(
            np.array([iris, iris + r * side, iris + r * up, iris - r * side, iris - r * up])
        )
    return points


def _synthetic_frame(
    pose: tuple[float, ...],
    yaw: float,
    pitch: float,
    sight: gaze.LineOfSight = gaze.LINE_OF_SIGHT,
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """(478 landmarks in frame pixels, the true 4x4 pose, each eye's iris centre in camera
    space)."""
    matrix = np.eye(4)
    matrix[:3, :3] = rotation_from_euler(*pose[:3])
    matrix[:3, 3] = pose[3:]
    face = canonical_face().points
    irises = _irises_in_head(yaw, pitch, sight)
    head = np.hstack([face, *(iris.T for iris in irises)])
    camera = (matrix @ np.vstack([head, np.ones(head.shape[1])]))[:3]
    mean_depth = float(-camera[2, : face.shape[1]].mean())
    landmarks = project_points(camera, WIDTH, HEIGHT, FOV, mean_depth)
    # The landmark model's z: depth along its line of sight (the ray through the face's
    # centre), not along the camera's axis; relative to the face's mean, scaled as x is where
    # the face sits (MediaPipe's focal / depth, times the frame's wide-angle stretch there).
    n = face.shape[1]
    sight_line = pixel_rays(landmarks[:n, :2].mean(axis=0, keepdims=True), WIDTH, HEIGHT, FOV)[0]
    depth = sight_line @ camera
    focal = 0.5 * HEIGHT / math.tan(math.radians(FOV / 2))
    # The face as a camera turned to look along the line would show it (no wide-angle stretch).
    x_axis = np.cross([0.0, 1.0, 0.0], -sight_line)
    x_axis /= np.linalg.norm(x_axis)
    y_axis = np.cross(-sight_line, x_axis)
    turned = focal * np.column_stack([x_axis @ camera[:, :n], y_axis @ camera[:, :n]])
    stretch = _spread(landmarks[:n, :2]) / _spread(turned / depth[:n, None])
    landmarks[:, 2] = (depth - depth[:n].mean()) * focal / depth[:n].mean() * stretch
    order = list(range(face.shape[1])) + list(LEFT_IRIS) + list(RIGHT_IRIS)
    out = np.empty((478, 3))
    out[order] = landmarks
    centres = [matrix[:3, :3] @ iris[0] + matrix[:3, 3] for iris in irises]
    return out, matrix, centres


def test_angles_follow_the_pose_convention() -> None:
    assert gaze.angles(np.array([0.0, 0.0, 1.0])) == (0.0, 0.0)
    yaw, pitch = gaze.angles(gaze.direction_from_angles(30.0, -10.0))
    assert yaw == pytest.approx(30.0) and pitch == pytest.approx(-10.0)
    # Same convention as the head pose: Ry(yaw) Rx(pitch) applied to the face's forward axis.
    forward = rotation_from_euler(12.0, -7.0, 0.0) @ np.array([0.0, 0.0, 1.0])
    assert gaze.angles(forward) == pytest.approx((-7.0, 12.0))


def test_synthetic_round_trip_within_half_a_degree() -> None:
    worst_camera = worst_head = 0.0
    for pose, (yaw, pitch) in itertools.product([*POSES, OFF_AXIS], GAZES):
        landmarks, matrix, _ = _synthetic_frame(pose, yaw, pitch)
        estimated = estimate_pose(landmarks, WIDTH, HEIGHT, FOV)
        result = gaze.gaze_from_pose(landmarks, estimated.matrix, WIDTH, HEIGHT, FOV)
        assert result.camera is not None
        truth_camera = matrix[:3, :3] @ gaze.direction_from_angles(yaw, pitch)
        # The head frame is the estimated pose's (MediaPipe's: off the frame centre its
        # rotation is not the true one, see gaze_from_pose).
        rotation = estimated.matrix[:3, :3] / np.cbrt(np.linalg.det(estimated.matrix[:3, :3]))
        truth_head = rotation.T @ truth_camera
        for ray in (result.camera.left, result.camera.right, result.camera.combined):
            worst_camera = max(worst_camera, _angle(ray.direction, truth_camera))
        for ray in (result.head.left, result.head.right, result.head.combined):
            worst_head = max(worst_head, _angle(ray.direction, truth_head))
    print(
        f"\nsynthetic round trip, {(len(POSES) + 1) * len(GAZES)} cases: worst error camera frame "
        f"{worst_camera:.3f} deg, head frame {worst_head:.3f} deg"
    )
    assert worst_camera < 0.5 and worst_head < 0.5


def test_eyeball_centres_ride_with_the_pose() -> None:
    landmarks, matrix, _ = _synthetic_frame(POSES[1], 0.0, 0.0)
    result = gaze.gaze_from_pose(landmarks, matrix, WIDTH, HEIGHT, FOV)
    assert result.camera is not None
    posed = gaze.eyeball_centres() @ matrix[:3, :3].T + matrix[:3, 3]
    assert result.camera.left.origin is not None and result.camera.right.origin is not None
    np.testing.assert_allclose(result.camera.left.origin, posed[0], atol=1e-9)
    np.testing.assert_allclose(result.camera.combined.origin, posed.mean(axis=0), atol=1e-9)
    # The left eye is on the image's left: smaller x in camera space.
    assert posed[0, 0] < posed[1, 0]


def test_weak_perspective_round_trip_for_crops() -> None:
    """A crop's landmarks as a scaled orthographic view (pixels, z on the x scale)."""
    face = canonical_face().points
    worst = 0.0
    for (pitch0, yaw0, roll0, *_), (yaw, pitch) in itertools.product(POSES, GAZES):
        rotation = rotation_from_euler(pitch0, yaw0, roll0)
        head = np.hstack([face, *(iris.T for iris in _irises_in_head(yaw, pitch))])
        view = 6.0 * (rotation @ head)  # 6 px per cm
        pixels = np.column_stack([view[0] + 96.0, 96.0 - view[1], -view[2]])
        order = list(range(face.shape[1])) + list(LEFT_IRIS) + list(RIGHT_IRIS)
        landmarks = np.empty((478, 3))
        landmarks[order] = pixels
        result = gaze.head_gaze_orthographic(landmarks)
        assert result.camera is None
        truth = gaze.direction_from_angles(yaw, pitch)
        for ray in (result.head.left, result.head.right, result.head.combined):
            worst = max(worst, _angle(ray.direction, truth))
            assert ray.origin is None
    print(f"\nweak-perspective round trip: worst error {worst:.4f} deg")
    assert worst < 0.5


def test_an_iris_off_the_eyeball_takes_the_nearest_sphere_point() -> None:
    centre, radius = np.array([0.0, 0.0, -10.0]), 1.0
    ray = np.array([0.3, 0.0, -1.0]) / np.linalg.norm([0.3, 0.0, -1.0])  # misses the sphere
    point = gaze.iris_sphere_point(centre, radius, np.zeros(3), ray)
    assert np.linalg.norm(point - centre) == pytest.approx(radius)
    hit = gaze.iris_sphere_point(centre, radius, np.zeros(3), np.array([0.0, 0.0, -1.0]))
    np.testing.assert_allclose(hit, [0.0, 0.0, -9.0])  # the nearer intersection


def test_iris_distance_matches_the_synthetic_depth() -> None:
    """Exact for an iris facing the camera in mid-frame; otherwise off by foreshortening (an
    iris turned from the camera ray looks narrower: too far) and the off-axis stretch of a
    flat image (wider: too near), as in MediaPipe Iris."""
    axis = gaze.LineOfSight(0.0, 0.0)  # optical axes straight ahead of the face
    errors, residuals = [], []
    for pose in POSES:
        landmarks, matrix, centres = _synthetic_frame(pose, 0.0, 0.0, axis)
        distance = gaze.iris_distance(landmarks, WIDTH, HEIGHT, FOV)
        forward = matrix[:3, :3] @ np.array([0.0, 0.0, 1.0])
        for got, centre in zip((distance.left, distance.right), centres, strict=True):
            truth = float(np.linalg.norm(centre))
            turn = -centre @ forward / truth  # cosine of the iris's turn from the camera ray
            errors.append(got / truth - 1.0)
            residuals.append(got / truth * turn - 1.0)
    print(
        f"\nsynthetic iris distance, eyes ahead of the face: relative error "
        f"{min(errors):+.2%} .. {max(errors):+.2%}; after undoing foreshortening "
        f"{min(residuals):+.2%} .. {max(residuals):+.2%}"
    )
    assert abs(errors[0]) < 0.005 and abs(errors[1]) < 0.005  # frontal, mid-frame
    assert max(abs(r) for r in residuals) < 0.12  # the off-axis stretch: up to 1 - cos


def test_focal_length_from_the_vertical_field_of_view() -> None:
    assert gaze.focal_length_px(480, 90.0) == pytest.approx(240.0)
    with pytest.raises(gaze.GeometryError):
        gaze.focal_length_px(480, 180.0)


def test_no_pose_or_no_landmarks_gives_no_gaze() -> None:
    landmarks, matrix, _ = _synthetic_frame(POSES[0], 0.0, 0.0)
    pose = HeadPose(matrix, 0.0, 0.0, 0.0)
    assert gaze.face_gaze(landmarks, None, WIDTH, HEIGHT, FOV) is None
    assert gaze.face_gaze(None, pose, WIDTH, HEIGHT, FOV) is None
    assert gaze.face_iris_distance(None, WIDTH, HEIGHT, FOV) is None
    assert gaze.crop_gaze(None) is None
    assert gaze.face_gaze(landmarks[:468], pose, WIDTH, HEIGHT, FOV) is None  # no irises
    broken = landmarks.copy()
    broken[LEFT_IRIS[1]] = broken[LEFT_IRIS[3]]  # an iris of zero width
    assert gaze.face_iris_distance(broken, WIDTH, HEIGHT, FOV) is None
    degenerate = HeadPose(np.zeros((4, 4)), 0.0, 0.0, 0.0)
    assert gaze.face_gaze(landmarks, degenerate, WIDTH, HEIGHT, FOV) is None
    nan = landmarks.copy()
    nan[RIGHT_IRIS[0]] = np.nan
    assert gaze.face_gaze(nan, pose, WIDTH, HEIGHT, FOV) is None
    assert gaze.crop_gaze(nan) is None


def test_eyes_that_disagree_are_flagged_implausible() -> None:
    """Two eyes of one face look at one point; eyes 70 degrees apart are not one face's."""
    agree, _, _ = _synthetic_frame(POSES[1], 10.0, -5.0)
    pose = estimate_pose(agree, WIDTH, HEIGHT, FOV)
    together = gaze.gaze_from_pose(agree, pose.matrix, WIDTH, HEIGHT, FOV)
    assert together.camera is not None
    assert together.head.eyes_angle < 0.5 and together.head.plausible
    assert together.camera.eyes_angle == pytest.approx(together.head.eyes_angle, abs=1e-6)
    apart = agree.copy()
    apart[list(RIGHT_IRIS)] = _synthetic_frame(POSES[1], -60.0, -5.0)[0][list(RIGHT_IRIS)]
    spread = gaze.gaze_from_pose(apart, pose.matrix, WIDTH, HEIGHT, FOV)
    assert spread.camera is not None
    assert spread.head.eyes_angle == pytest.approx(70.0, abs=0.5)
    assert not spread.head.plausible and not spread.camera.plausible
    crop = gaze.crop_gaze(apart)
    assert crop is not None and not crop.head.plausible
