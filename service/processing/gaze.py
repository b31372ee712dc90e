"""Gaze per eye and the distance from the iris size (numpy only; method: ``docs/gaze.md``).

Eyeball model. Each eyeball is a sphere of radius ``EYEBALL_RADIUS_CM`` placed in MediaPipe's
canonical face (``face_geometry.canonical_face``, cm): its centre lies ``IRIS_PLANE_CM``
behind the centroid of the eye's 16 lid-margin points, along the face's forward axis (+z),
so an eye looking straight ahead has its iris centre on that centroid. The iris is a disc of
diameter ``IRIS_DIAMETER_CM`` on the eyeball, so its centre lies on a sphere of radius
``IRIS_PLANE_CM = sqrt(R**2 - (D/2)**2)`` about the eyeball centre (the iris plane).

In a frame (perspective camera of ``fov_degrees``, as for ``pose``) the face is re-projected
onto a virtual camera turned to look along the ray through its centre (where the landmark
model's z, depth along its line of sight, is depth along the camera's axis, as the pose's
pipeline reads it), and the pose estimated there places the eyeballs; the ray from the
camera through the iris-centre landmark meets the iris sphere (the nearer intersection; the
closest sphere point when it misses); the unit vector from the eyeball centre to that point
is the optical axis, and the gaze is the line of sight, the optical axis turned by
``LINE_OF_SIGHT`` in the head's frame, turned back into the camera frame. In a crop (no
camera), the same model is fitted to the landmarks orthographically (x, y in pixels, z on the
x scale, weak perspective) and only the gaze relative to the head is given. ``EyesGaze``
says how far apart the two lines of sight are and whether that is plausible for one face.

Angles use the pose's convention (``face_geometry``): a direction ``d = Ry(yaw) Rx(pitch)
(0, 0, 1)``, so ``yaw = atan2(dx, dz)`` (positive: towards the image's right) and ``pitch =
asin(-dy)`` (positive: down). In the camera frame, looking into the lens is yaw = pitch = 0
only at the image centre; in the head frame, yaw = pitch = 0 is straight ahead of the face.
``left``/``right`` follow the landmark lists' names (``contract.LEFT_EYE``: the image's left).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from service.contract import EYE_CONTOUR_POINTS, LEFT_EYE, LEFT_IRIS, RIGHT_EYE, RIGHT_IRIS
from service.core.config import CAMERA_FOV_DEGREES_MAX, CAMERA_FOV_DEGREES_MIN
from service.processing.face_geometry import (
    GeometryError,
    HeadPose,
    canonical_face,
    estimate_pose,
    estimate_poses,
    pixel_rays,
    rotation_from_euler,
    solve_weighted_orthogonal,
)

EYEBALL_RADIUS_CM = 1.2
# MediaPipe Iris: the horizontal iris diameter is 11.7 +- 0.5 mm across a wide population.
IRIS_DIAMETER_CM = 1.17
IRIS_PLANE_CM = math.sqrt(EYEBALL_RADIUS_CM**2 - (IRIS_DIAMETER_CM / 2) ** 2)


@dataclass(frozen=True)
class LineOfSight:
    """The line of sight in the head's frame is the eyeball's optical axis (centre -> iris
    centre) turned ``nasal_yaw`` degrees towards the nose and ``pitch`` degrees down."""

    nasal_yaw: float
    pitch: float


# Angle kappa alone: the line of sight runs about 5 degrees nasal of the optical axis.
ANATOMICAL = LineOfSight(nasal_yaw=5.0, pitch=0.0)
# The default: the median offsets of the 33 calibration portraits of tests/data (people
# looking into the lens; weak perspective, so no field of view is assumed), to 0.5 degrees;
# re-derived by tools/gaze_eval.py and checked, with held-out faces, by
# tests/service/processing/test_gaze_photos.py. Method and figures: docs/gaze.md.
LINE_OF_SIGHT = LineOfSight(nasal_yaw=9.0, pitch=0.5)
# Two eyes of one face converge on what they look at: by at most ~15 degrees (a target at
# 25 cm), and landmark noise on small irises spreads the estimates further (up to 55 degrees
# measured on real faces, docs/gaze.md). Beyond this the two gazes are not one face's.
MAX_EYES_ANGLE = 60.0
# Iris landmarks: centre, then the contour's four points; 1 and 3 are its horizontal ends.
_IRIS_CENTRE, _IRIS_HORIZONTAL = 0, (1, 3)
_EYES = (
    (LEFT_EYE[:EYE_CONTOUR_POINTS], LEFT_IRIS),
    (RIGHT_EYE[:EYE_CONTOUR_POINTS], RIGHT_IRIS),
)


@dataclass(frozen=True)
class GazeRay:
    """One gaze: float64 [3] unit ``direction``, its ``yaw``/``pitch`` (degrees) and
    ``origin``, the eyeball centre (float64 [3], cm, camera space; None in the head frame)."""

    direction: np.ndarray
    yaw: float
    pitch: float
    origin: np.ndarray | None = None


@dataclass(frozen=True)
class EyesGaze:
    """Both eyes' gaze and the combined one (their mean direction from the mid-point).
    ``eyes_angle``: degrees between the two lines of sight; ``plausible``: at most
    ``MAX_EYES_ANGLE`` (two eyes of one face fixate one point, so their lines of sight nearly
    agree; eyes far apart are landmarks that are not one face's, or eyes too small to read)."""

    left: GazeRay
    right: GazeRay
    combined: GazeRay

    @property
    def eyes_angle(self) -> float:
        cosine = float(self.left.direction @ self.right.direction)
        return math.degrees(math.acos(max(-1.0, min(1.0, cosine))))

    @property
    def plausible(self) -> bool:
        return self.eyes_angle <= MAX_EYES_ANGLE


@dataclass(frozen=True)
class Gaze:
    """``camera``: in the pose's camera frame (None without a camera: crops); ``head``: the
    same gaze in the head's frame (canonical face axes: x right, y up, z forward)."""

    camera: EyesGaze | None
    head: EyesGaze


@dataclass(frozen=True)
class IrisDistance:
    """Camera-to-iris distance per eye in cm, from the iris's apparent diameter."""

    left: float
    right: float


def angles(direction: np.ndarray) -> tuple[float, float]:
    """(yaw, pitch) in degrees of a float [3] unit vector (see the module docstring)."""
    x, y, z = (float(v) for v in direction)
    return math.degrees(math.atan2(x, z)), math.degrees(math.asin(max(-1.0, min(1.0, -y))))


def direction_from_angles(yaw: float, pitch: float) -> np.ndarray:
    """float64 [3] unit vector of ``yaw``/``pitch`` in degrees (inverse of ``angles``)."""
    b, a = math.radians(yaw), math.radians(pitch)
    return np.array([math.cos(a) * math.sin(b), -math.sin(a), math.cos(a) * math.cos(b)])


@lru_cache(maxsize=1)
def eyeball_centres() -> np.ndarray:
    """float64 [2, 3]: the left and right eyeball centres in the canonical face (cm)."""
    points = canonical_face().points
    centres = np.array([points[:, list(contour)].mean(axis=1) for contour, _ in _EYES])
    centres[:, 2] -= IRIS_PLANE_CM
    return centres


def _ray(direction: np.ndarray, origin: np.ndarray | None = None) -> GazeRay:
    yaw, pitch = angles(direction)
    return GazeRay(direction, yaw, pitch, origin)


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    if not (math.isfinite(norm) and norm > 0):
        raise GeometryError("degenerate gaze direction")
    unit: np.ndarray = vector / norm
    return unit


def iris_sphere_point(
    centre: np.ndarray, radius: float, origin: np.ndarray, ray: np.ndarray
) -> np.ndarray:
    """float64 [3]: where the ray ``origin + t ray`` (unit ``ray``) first meets the sphere,
    or the sphere's point closest to the ray when it misses."""
    to_centre = centre - origin
    along = float(ray @ to_centre)
    closest = origin + along * ray
    gap = float(np.linalg.norm(closest - centre))
    if gap <= radius:
        point: np.ndarray = closest - math.sqrt(radius * radius - gap * gap) * ray
        return point
    return centre + radius * _unit(closest - centre)


def _sight_rotations(sight: LineOfSight) -> tuple[np.ndarray, np.ndarray]:
    """Head-frame rotations from each eye's optical axis to its line of sight (the left eye's
    nose side is +x, the right eye's -x)."""
    return (
        rotation_from_euler(sight.pitch, sight.nasal_yaw, 0.0),
        rotation_from_euler(sight.pitch, -sight.nasal_yaw, 0.0),
    )


def _eyes(
    centres: np.ndarray,
    radius: float,
    origins: np.ndarray,
    rays: np.ndarray,
    rotation: np.ndarray,
    in_camera: bool,
    sight: LineOfSight,
) -> EyesGaze:
    """Both eyes' lines of sight from the posed eyeball ``centres`` (float [2, 3]) and the
    iris rays (``origins``, unit ``rays``: float [2, 3]); ``rotation``: head -> this frame."""
    directions = [
        rotation
        @ kappa
        @ rotation.T
        @ _unit(iris_sphere_point(centre, radius, origin, ray) - centre)
        for centre, origin, ray, kappa in zip(
            centres, origins, rays, _sight_rotations(sight), strict=True
        )
    ]
    mid = centres.mean(axis=0) if in_camera else None
    left, right = (
        _ray(d, c if in_camera else None) for d, c in zip(directions, centres, strict=True)
    )
    return EyesGaze(left, right, _ray(_unit(directions[0] + directions[1]), mid))


def _in_head(eyes: EyesGaze, rotation: np.ndarray) -> EyesGaze:
    """``eyes`` re-expressed in the head's frame (``rotation``: head -> camera)."""
    left, right, combined = (
        _ray(rotation.T @ ray.direction) for ray in (eyes.left, eyes.right, eyes.combined)
    )
    return EyesGaze(left, right, combined)


def _similarity(matrix: np.ndarray) -> tuple[float, np.ndarray]:
    """(scale, rotation) of a float [4, 4] similarity transform."""
    linear = np.asarray(matrix, dtype=np.float64)[:3, :3]
    scale = float(np.cbrt(np.linalg.det(linear)))
    if not (math.isfinite(scale) and scale > 0):
        raise GeometryError("degenerate pose")
    return scale, linear / scale


def _posed_centres(matrix: np.ndarray) -> np.ndarray:
    m = np.asarray(matrix, dtype=np.float64)
    posed: np.ndarray = eyeball_centres() @ m[:3, :3].T + m[:3, 3]
    return posed


def _iris_centres(landmarks: np.ndarray) -> np.ndarray:
    points = np.asarray(landmarks, dtype=np.float64)
    if points.ndim != 2 or points.shape[0] <= max(RIGHT_IRIS) or points.shape[1] < 2:
        raise GeometryError("gaze needs the 478 landmarks with the irises")
    centres = np.array([points[iris[_IRIS_CENTRE], :2] for _, iris in _EYES])
    if not np.all(np.isfinite(centres)):
        raise GeometryError("non-finite iris landmarks")
    return centres


def _turn_onto(target: np.ndarray) -> np.ndarray:
    """float64 [3, 3]: the smallest rotation taking +z onto the unit vector ``target``."""
    z = np.array([0.0, 0.0, 1.0])
    axis = np.cross(z, target)
    sine, cosine = float(np.linalg.norm(axis)), float(z @ target)
    if sine < 1e-12:
        if cosine > 0:
            return np.eye(3)
        raise GeometryError("the face is behind the camera")
    k = axis / sine
    cross = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    turn: np.ndarray = np.eye(3) + sine * cross + (1.0 - cosine) * (cross @ cross)
    return turn


def _spread(xy: np.ndarray) -> float:
    spread = float(np.sqrt(((xy - xy.mean(axis=0)) ** 2).sum(axis=1).mean()))
    if not (math.isfinite(spread) and spread > 0):
        raise GeometryError("landmarks collapsed to a point")
    return spread


def _face_points(landmarks: np.ndarray) -> np.ndarray:
    points = np.asarray(landmarks, dtype=np.float64)
    count = canonical_face().points.shape[1]
    if points.ndim != 2 or points.shape[0] < count or not np.all(np.isfinite(points[:count])):
        raise GeometryError("gaze needs finite landmarks")
    return points


def gaze_from_pose(
    landmarks: np.ndarray,
    matrix: np.ndarray,
    width: int,
    height: int,
    fov_degrees: float,
    sight: LineOfSight = LINE_OF_SIGHT,
) -> Gaze:
    """Gaze of one face from its float [478, 3] frame-pixel landmarks and its pose ``matrix``
    (``HeadPose.matrix``, canonical face -> camera space, cm) for the same camera.

    The landmark model sees each face along its line of sight, and its z is depth along that
    line, not along the camera's axis as the pose's pipeline reads it; off the frame centre
    the pose's rotation therefore misses part of the turn towards the camera. So the frame is
    re-projected onto a virtual camera turned to look along the ray through the face's
    centre, where the two lines agree; the pose is estimated again there, the eyeball model
    applied, and the gaze turned back into the camera frame. ``matrix`` places the eyeballs
    (the gaze's origins), and ``head`` is the camera-frame gaze in its axes."""
    view = _virtual_view(landmarks, width, height, fov_degrees)
    pose = estimate_pose(
        view.pixels[: canonical_face().points.shape[1]], width, height, fov_degrees
    )
    return _gaze_in_view(view, pose, matrix, width, height, fov_degrees, sight)


@dataclass(frozen=True)
class _VirtualView:
    """One face re-projected onto the virtual camera that looks along its centre's ray:
    ``pixels`` (its 468 face points, then the 2 iris centres) and ``turn`` (virtual ->
    camera frame). It depends on the landmarks alone, so a frame's virtual views can be
    posed in the same call as its faces."""

    pixels: np.ndarray
    turn: np.ndarray


def _virtual_view(
    landmarks: np.ndarray, width: int, height: int, fov_degrees: float
) -> _VirtualView:
    """``gaze_from_pose``'s first step: the face on its virtual camera."""
    points = _face_points(landmarks)
    iris_pixels = _iris_centres(points)
    count = canonical_face().points.shape[1]
    rays = pixel_rays(
        np.vstack([points[:count, :2].mean(axis=0), points[:count, :2], iris_pixels]),
        width,
        height,
        fov_degrees,
    )
    # The virtual camera looks along the ray through the face's centre, as the model does.
    turn = _turn_onto(-rays[0])
    rays = rays[1:]
    virtual = rays @ turn  # turn.T applied to each ray
    if not np.all(virtual[:, 2] < 0):
        raise GeometryError("landmarks behind the camera")
    focal = focal_length_px(height, fov_degrees)
    plane = focal * virtual[:, :2] / -virtual[:, 2:3]  # x right, y up, from the virtual axis
    # z is on the scale of the face as the frame shows it; the virtual view shows it without
    # the wide-angle stretch of the frame's edges, so z shrinks alike.
    shrink = _spread(plane[:count]) / _spread(points[:count, :2])
    pixels = np.column_stack(
        [width / 2.0 + plane[:, 0], height / 2.0 - plane[:, 1], np.zeros(len(plane))]
    )
    pixels[:count, 2] = shrink * points[:count, 2]
    return _VirtualView(pixels, turn)


def _gaze_in_view(
    view: _VirtualView,
    pose: HeadPose,
    matrix: np.ndarray,
    width: int,
    height: int,
    fov_degrees: float,
    sight: LineOfSight = LINE_OF_SIGHT,
) -> Gaze:
    """``gaze_from_pose``'s last step, from the face's ``pose`` on its virtual camera;
    ``matrix``, the face's pose in the frame, places the eyeballs and gives the head's axes."""
    count = canonical_face().points.shape[1]
    _, head_to_camera = _similarity(matrix)
    centres = _posed_centres(matrix)
    scale, rotation = _similarity(pose.matrix)
    eyes = _eyes(
        _posed_centres(pose.matrix),
        scale * IRIS_PLANE_CM,
        np.zeros((2, 3)),
        pixel_rays(view.pixels[count:, :2], width, height, fov_degrees),
        rotation,
        True,
        sight,
    )
    left, right, combined = (
        _ray(view.turn @ ray.direction, origin)
        for ray, origin in zip(
            (eyes.left, eyes.right, eyes.combined), (*centres, centres.mean(axis=0)), strict=True
        )
    )
    camera = EyesGaze(left, right, combined)
    # In the pose's axes, so that the pose turns ``head`` into ``camera`` exactly.
    return Gaze(camera, _in_head(camera, head_to_camera))


def frame_poses_and_gazes(
    landmarks: Sequence[np.ndarray | None],
    width: int,
    height: int,
    fov_degrees: float,
    gaze: bool = True,
) -> tuple[list[HeadPose | None], list[Gaze | None]]:
    """Every face's ``estimate_pose`` and (with ``gaze``) ``face_gaze`` of one frame: the
    faces' poses and their virtual cameras' poses in one ``estimate_poses`` call (array
    operations over them all, the same numbers as one by one). None where the one-face
    functions give None or raise ``GeometryError``; no gazes (all None) without ``gaze``."""
    views: list[_VirtualView | None] = []
    for each in landmarks:
        view = None
        if gaze and each is not None:
            try:
                view = _virtual_view(each, width, height, fov_degrees)
            except GeometryError:
                view = None
        views.append(view)
    count = canonical_face().points.shape[1]
    found = [each for each in landmarks if each is not None]
    viewed = [view.pixels[:count] for view in views if view is not None]
    solved = iter(estimate_poses(found + viewed, width, height, fov_degrees))
    poses = [next(solved) if each is not None else None for each in landmarks]
    gazes: list[Gaze | None] = []
    for view, pose in zip(views, poses, strict=True):
        virtual_pose = next(solved) if view is not None else None
        found_gaze = None
        if view is not None and virtual_pose is not None and pose is not None:
            try:
                found_gaze = _gaze_in_view(
                    view, virtual_pose, pose.matrix, width, height, fov_degrees
                )
            except GeometryError:
                found_gaze = None
        gazes.append(found_gaze)
    return poses, gazes


def head_gaze_orthographic(landmarks: np.ndarray, sight: LineOfSight = LINE_OF_SIGHT) -> Gaze:
    """Gaze relative to the head for a crop (no camera): the canonical face is fitted to the
    float [478, 3] landmarks (pixels, z on the x scale) as a weak-perspective (scaled
    orthographic) view, and the iris rays run along the viewing axis."""
    points = _face_points(landmarks)
    face = canonical_face()
    count = face.points.shape[1]
    # Pixels (y down, z away from the viewer) -> right-handed, y up, viewer on +z.
    cloud = (points[:count, :3] * np.array([1.0, -1.0, -1.0])).T
    matrix = solve_weighted_orthogonal(face.points, cloud, face.weights)
    scale, rotation = _similarity(matrix)
    iris = _iris_centres(points) * np.array([1.0, -1.0])
    far = float(np.abs(cloud).max()) + 1.0
    origins = np.column_stack([iris, np.full(2, far)])
    rays = np.tile([0.0, 0.0, -1.0], (2, 1))
    eyes = _eyes(
        _posed_centres(matrix), scale * IRIS_PLANE_CM, origins, rays, rotation, False, sight
    )
    return Gaze(None, _in_head(eyes, rotation))


def focal_length_px(height: int, fov_degrees: float) -> float:
    """The camera's focal length in pixels from its vertical field of view."""
    if not (height > 0 and CAMERA_FOV_DEGREES_MIN <= fov_degrees <= CAMERA_FOV_DEGREES_MAX):
        raise GeometryError(
            "frame height must be positive and the field of view in "
            f"[{CAMERA_FOV_DEGREES_MIN:g}, {CAMERA_FOV_DEGREES_MAX:g}] degrees"
        )
    return 0.5 * height / math.tan(0.5 * math.radians(fov_degrees))


def iris_distance(
    landmarks: np.ndarray, width: int, height: int, fov_degrees: float
) -> IrisDistance:
    """Camera-to-iris distance per eye (cm), as MediaPipe Iris's ``IrisToDepthCalculator``
    computes it but from the horizontal diameter only (``IRIS_DIAMETER_CM``): ``D * sqrt(f**2 +
    r**2) / d``, with ``f`` the focal length in pixels, ``r`` the iris centre's distance from
    the frame centre and ``d`` the iris's horizontal diameter in pixels."""
    points = np.asarray(landmarks, dtype=np.float64)
    focal = focal_length_px(height, fov_degrees)
    centres = _iris_centres(points)
    distances = []
    for (_, iris), centre in zip(_EYES, centres, strict=True):
        a, b = (points[iris[i], :2] for i in _IRIS_HORIZONTAL)
        diameter = float(np.linalg.norm(a - b))
        if not diameter > 0:
            raise GeometryError("iris of zero size")
        off_centre = float(np.linalg.norm(centre - np.array([width, height]) / 2.0))
        distances.append(IRIS_DIAMETER_CM * math.hypot(focal, off_centre) / diameter)
    return IrisDistance(distances[0], distances[1])


def face_gaze(
    landmarks: np.ndarray | None,
    pose: HeadPose | None,
    width: int,
    height: int,
    fov_degrees: float,
) -> Gaze | None:
    """``gaze_from_pose`` for a frame's face, None without landmarks, pose or a usable eye."""
    if landmarks is None or pose is None:
        return None
    try:
        return gaze_from_pose(landmarks, pose.matrix, width, height, fov_degrees)
    except GeometryError:
        return None


def face_iris_distance(
    landmarks: np.ndarray | None, width: int, height: int, fov_degrees: float
) -> IrisDistance | None:
    """``iris_distance`` for a frame's face, None without landmarks or a usable iris."""
    if landmarks is None:
        return None
    try:
        return iris_distance(landmarks, width, height, fov_degrees)
    except GeometryError:
        return None


def crop_gaze(landmarks: np.ndarray | None) -> Gaze | None:
    """``head_gaze_orthographic`` for a crop's face, None without landmarks or a usable eye."""
    if landmarks is None:
        return None
    try:
        return head_gaze_orthographic(landmarks)
    except GeometryError:
        return None
