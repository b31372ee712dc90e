"""Head pose from screen landmarks, as MediaPipe's face geometry pipeline computes it.

Facts taken from MediaPipe's ``modules/face_geometry/libs/geometry_pipeline.cc`` and
``procrustes_solver.cc`` (the code here is our own):

* a perspective camera with a vertical field of view (every function takes it; its default
  is ``Settings.camera_fov_degrees``, and it is accepted from ``CAMERA_FOV_DEGREES_MIN`` to
  ``CAMERA_FOV_DEGREES_MAX``, what a rectilinear lens can have, in ``service.core.config``),
  near plane 1 (no far plane: nothing here clips depth), the principal point at the frame
  centre, origin top-left (screen y flipped);
* screen landmarks (normalised x, y, and z on the x scale; left-handed) are projected onto
  the near plane, the canonical-to-runtime scale is estimated twice (first on the projected
  points, then on points unprojected with that first scale), and the screen points are
  unprojected with the product of both scales into metric space (right-handed, cm);
* the pose is the weighted orthogonal Procrustes fit (rotation, uniform scale, translation)
  of MediaPipe's canonical face (468 vertices, cm) onto those metric points, with the
  33 landmark weights of ``geometry_pipeline_metadata_landmarks.pbtxt`` (data: see
  ``data/face_geometry/README.md``, Apache-2.0, The MediaPipe Authors).

The 4x4 ``matrix`` maps canonical-model points (cm) to camera space (cm; x right, y up, the
camera looks down -z, so a face in front of it has z < 0). Euler angles are our addition
(MediaPipe gives only the matrix): with ``R = Rz(roll) @ Ry(yaw) @ Rx(pitch)``, roll is the
in-plane angle (positive: counter-clockwise on screen), yaw the turn about the vertical axis
(positive: the face turns towards the image's right), pitch the nod about the horizontal
axis (positive: the face looks down). Turning a frame about its centre changes roll alone;
mirroring it negates yaw and roll.

Degenerate input (landmarks that are not finite, collapsed or absurdly far, a field of view
outside the camera range) never raises anything but ``GeometryError``: the caller gives the
face no pose.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from service.core.config import CAMERA_FOV_DEGREES_MAX, CAMERA_FOV_DEGREES_MIN

METADATA_PATH = (
    Path(__file__).resolve().parent
    / "data"
    / "face_geometry"
    / "geometry_pipeline_metadata_landmarks.pbtxt"
)
CAMERA_NEAR = 1.0
# VERTEX_PT: x, y, z, u, v per vertex.
_VERTEX_SIZE = 5
# MediaPipe skips faces whose landmarks lie within this normalised radius of their mean.
_TOO_COMPACT = 1e-3


class GeometryError(ValueError):
    """The metadata cannot be read, or the landmarks give no pose."""


@dataclass(frozen=True)
class CanonicalFace:
    """float64 [3, N] canonical vertex positions (cm) and float64 [N] Procrustes weights
    (zero outside the landmark basis)."""

    points: np.ndarray
    weights: np.ndarray


@dataclass(frozen=True)
class HeadPose:
    """``matrix``: float64 [4, 4] canonical face (cm) -> camera space (cm); the Euler angles
    in degrees (see the module docstring for the convention)."""

    matrix: np.ndarray
    pitch: float
    yaw: float
    roll: float


def parse_metadata(text: str) -> CanonicalFace:
    """The canonical face of a ``GeometryPipelineMetadata`` text proto."""
    basis = re.findall(
        r"procrustes_landmark_basis\s*\{\s*landmark_id:\s*(\d+)\s+weight:\s*([-+0-9.eE]+)\s*\}",
        text,
    )
    values = np.array(re.findall(r"vertex_buffer:\s*([-+0-9.eE]+)", text), dtype=np.float64)
    if not basis or values.size == 0 or values.size % _VERTEX_SIZE:
        raise GeometryError("face geometry metadata without a Procrustes basis or vertex buffer")
    points = values.reshape(-1, _VERTEX_SIZE)[:, :3].T.copy()
    weights = np.zeros(points.shape[1])
    for landmark_id, weight in basis:
        index = int(landmark_id)
        if index >= weights.size:
            raise GeometryError(f"Procrustes landmark {index} outside the canonical mesh")
        weights[index] = float(weight)
    return CanonicalFace(points, weights)


@lru_cache(maxsize=1)
def canonical_face() -> CanonicalFace:
    """MediaPipe's canonical face and Procrustes weights (read once)."""
    return parse_metadata(METADATA_PATH.read_text())


def solve_weighted_orthogonal(
    source: np.ndarray, target: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    """float64 [4, 4] similarity transform (``s R`` and t) that best maps float [3, N]
    ``source`` onto ``target`` in the ``weights``-weighted least-squares sense (rotation
    without reflection). Raises ``GeometryError`` when no finite transform exists."""
    if not (np.all(np.isfinite(source)) and np.all(np.isfinite(target))):
        raise GeometryError("Procrustes points must be finite")
    weights = np.asarray(weights, dtype=np.float64)
    # Points of weight 0 add nothing to any sum below: solve on the others only (MediaPipe's
    # weights give 33 of the 468 canonical points a weight, so this is ~14x less work).
    support = weights > 0
    source, target, weights = source[:, support], target[:, support], weights[support]
    sqrt_w = np.sqrt(weights)
    total = float(np.sum(sqrt_w**2))
    if not total > 0:
        raise GeometryError("Procrustes weights sum to zero")
    ws = source * sqrt_w
    wt = target * sqrt_w
    source_centre = (ws * sqrt_w).sum(axis=1, keepdims=True) / total
    centred = ws - source_centre * sqrt_w
    with np.errstate(all="ignore"):  # overflow shows up as a non-finite design below
        design = wt @ centred.T
    if not np.all(np.isfinite(design)):
        raise GeometryError("degenerate Procrustes target")
    try:
        u, _, vt = np.linalg.svd(design)
    except np.linalg.LinAlgError as exc:
        raise GeometryError(f"degenerate Procrustes target: {exc}") from None
    if np.linalg.det(u @ vt) < 0:
        u[:, 2] *= -1.0
    rotation = u @ vt
    denominator = float(np.sum(centred * ws))
    if not abs(denominator) > 0:
        raise GeometryError("degenerate Procrustes source")
    scale = float(np.sum((rotation @ centred) * wt)) / denominator
    linear = scale * rotation
    translation = ((wt - linear @ ws) * sqrt_w).sum(axis=1) / total
    transform = np.eye(4)
    transform[:3, :3] = linear
    transform[:3, 3] = translation
    if not np.all(np.isfinite(transform)):
        raise GeometryError("degenerate Procrustes fit")
    return transform


def euler_degrees(rotation: np.ndarray) -> tuple[float, float, float]:
    """(pitch, yaw, roll) in degrees of the float [3, 3] rotation ``Rz(roll) Ry(yaw) Rx(pitch)``."""
    r = np.asarray(rotation, dtype=np.float64)
    yaw = math.asin(max(-1.0, min(1.0, -float(r[2, 0]))))
    pitch = math.atan2(float(r[2, 1]), float(r[2, 2]))
    roll = math.atan2(float(r[1, 0]), float(r[0, 0]))
    return math.degrees(pitch), math.degrees(yaw), math.degrees(roll)


def rotation_from_euler(pitch: float, yaw: float, roll: float) -> np.ndarray:
    """float64 [3, 3] ``Rz(roll) @ Ry(yaw) @ Rx(pitch)`` from angles in degrees."""
    a, b, c = (math.radians(v) for v in (pitch, yaw, roll))
    rx = np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])
    ry = np.array([[math.cos(b), 0, math.sin(b)], [0, 1, 0], [-math.sin(b), 0, math.cos(b)]])
    rz = np.array([[math.cos(c), -math.sin(c), 0], [math.sin(c), math.cos(c), 0], [0, 0, 1]])
    rotation: np.ndarray = rz @ ry @ rx
    return rotation


@dataclass(frozen=True)
class Frustum:
    """The perspective camera's near-plane rectangle for one frame size."""

    left: float
    right: float
    bottom: float
    top: float
    near: float = CAMERA_NEAR

    @classmethod
    def for_frame(cls, width: int, height: int, fov_degrees: float) -> Frustum:
        in_range = CAMERA_FOV_DEGREES_MIN <= fov_degrees <= CAMERA_FOV_DEGREES_MAX
        if not (width > 0 and height > 0 and in_range):
            raise GeometryError(
                "frame size must be positive and the field of view in "
                f"[{CAMERA_FOV_DEGREES_MIN:g}, {CAMERA_FOV_DEGREES_MAX:g}] degrees"
            )
        height_at_near = 2.0 * CAMERA_NEAR * math.tan(0.5 * math.radians(fov_degrees))
        width_at_near = width * height_at_near / height
        return cls(
            -0.5 * width_at_near, 0.5 * width_at_near, -0.5 * height_at_near, 0.5 * height_at_near
        )


def _project_xy(frustum: Frustum, normalised: np.ndarray) -> np.ndarray:
    """Normalised screen points [3, N] (origin top-left) -> near-plane units."""
    x_scale = frustum.right - frustum.left
    y_scale = frustum.top - frustum.bottom
    out = np.empty_like(normalised)
    out[0] = normalised[0] * x_scale + frustum.left
    out[1] = (1.0 - normalised[1]) * y_scale + frustum.bottom
    out[2] = normalised[2] * x_scale
    return out


def _unproject(frustum: Frustum, projected: np.ndarray, offset: float, scale: float) -> np.ndarray:
    """Near-plane points -> metric (right-handed) with depth rescaled by ``scale``."""
    out = np.empty_like(projected)
    depth = (projected[2] - offset + frustum.near) / scale
    out[0] = projected[0] * depth / frustum.near
    out[1] = projected[1] * depth / frustum.near
    out[2] = -depth
    return out


def metric_landmarks(
    landmarks: np.ndarray, width: int, height: int, fov_degrees: float, face: CanonicalFace
) -> np.ndarray:
    """float [N>=468, 3] landmarks in frame pixels (z on the x scale) -> float64 [3, 468]
    metric points (cm, camera space)."""
    count = face.points.shape[1]
    pixels = np.asarray(landmarks, dtype=np.float64)[:count]
    if pixels.shape != (count, 3) or not np.all(np.isfinite(pixels)):
        raise GeometryError(f"need {count} finite [x, y, z] landmarks")
    normalised = (pixels / np.array([width, height, width])).T
    centre = normalised[:2].mean(axis=1, keepdims=True)
    if float(np.sqrt(((normalised[:2] - centre) ** 2).sum(axis=0)).max()) <= _TOO_COMPACT:
        raise GeometryError("landmarks too compact for a pose")
    frustum = Frustum.for_frame(width, height, fov_degrees)
    projected = _project_xy(frustum, normalised)
    offset = float(projected[2].mean())

    def scale_of(points: np.ndarray) -> float:
        return float(
            np.linalg.norm(solve_weighted_orthogonal(face.points, points, face.weights)[:3, 0])
        )

    first = projected.copy()
    first[2] *= -1.0
    with np.errstate(all="ignore"):  # non-finite results are refused by the solve
        first_scale = scale_of(first)
        if not first_scale > 0:
            raise GeometryError("degenerate landmarks: zero scale")
        second_scale = scale_of(_unproject(frustum, projected, offset, first_scale))
        if not second_scale > 0:
            raise GeometryError("degenerate landmarks: zero scale")
        metric = _unproject(frustum, projected, offset, first_scale * second_scale)
    if not np.all(np.isfinite(metric)):
        raise GeometryError("degenerate landmarks: no finite metric points")
    return metric


def estimate_pose(
    landmarks: np.ndarray,
    width: int,
    height: int,
    fov_degrees: float,
) -> HeadPose:
    """The head pose of one face from float [478|468, 3] landmarks in frame pixels.
    Raises ``GeometryError`` for landmarks that give no pose."""
    face = canonical_face()
    metric = metric_landmarks(landmarks, width, height, fov_degrees, face)
    matrix = solve_weighted_orthogonal(face.points, metric, face.weights)
    linear = matrix[:3, :3]
    with np.errstate(all="ignore"):
        scale = float(np.cbrt(np.linalg.det(linear)))
    if not (np.isfinite(scale) and scale > 0):
        raise GeometryError("degenerate pose")
    pitch, yaw, roll = euler_degrees(linear / scale)
    return HeadPose(matrix, pitch, yaw, roll)


@dataclass(frozen=True)
class _SourceTerms:
    """What a weighted Procrustes solve needs of its source and weights alone (the same for
    every face of a frame: the canonical face): the supported points' mask, square-root
    weights, weighted source, centred source and the scale's denominator."""

    support: np.ndarray
    sqrt_w: np.ndarray
    total: float
    ws: np.ndarray
    centred: np.ndarray
    denominator: float

    @classmethod
    def of(cls, source: np.ndarray, weights: np.ndarray) -> _SourceTerms:
        weights = np.asarray(weights, dtype=np.float64)
        support = weights > 0
        source, weights = source[:, support], weights[support]
        sqrt_w = np.sqrt(weights)
        total = float(np.sum(sqrt_w**2))
        if not total > 0:
            raise GeometryError("Procrustes weights sum to zero")
        if not np.all(np.isfinite(source)):
            raise GeometryError("Procrustes points must be finite")
        ws = source * sqrt_w
        source_centre = (ws * sqrt_w).sum(axis=1, keepdims=True) / total
        centred = ws - source_centre * sqrt_w
        denominator = float(np.sum(centred * ws))
        if not abs(denominator) > 0:
            raise GeometryError("degenerate Procrustes source")
        return cls(support, sqrt_w, total, ws, centred, denominator)


def solve_weighted_orthogonal_many(
    source: np.ndarray, targets: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``solve_weighted_orthogonal`` of one float [3, N] ``source`` onto each of float
    [F, 3, N] ``targets`` as array operations over the F faces -> (float64 [F, 4, 4]
    transforms, bool [F] solved). A face that gives no finite transform is not solved (its
    transform is undefined), where the one-face version raises ``GeometryError``; the others
    get the same transform as one by one to within rounding (the same LAPACK solve per
    face)."""
    return _solve_many(
        _SourceTerms.of(source, weights), targets[:, :, weights > 0], source, weights
    )


def _solve_many(
    terms: _SourceTerms, targets: np.ndarray, source: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``solve_weighted_orthogonal_many`` with the source's terms given and ``targets``
    already limited to the supported points (float [F, 3, S])."""
    count = len(targets)
    ok = np.isfinite(targets).all(axis=(1, 2))
    wt = targets * terms.sqrt_w
    with np.errstate(all="ignore"):
        design = wt @ terms.centred.T
    ok &= np.isfinite(design).all(axis=(1, 2))
    design[~ok] = np.eye(3)
    try:
        u, _, vt = np.linalg.svd(design)
    except np.linalg.LinAlgError:  # one face's solve failed: each on its own
        full = np.zeros((count, 3, source.shape[1]))
        full[:, :, terms.support] = targets
        return _solve_each(source, full, weights)
    flip = np.linalg.det(u @ vt) < 0
    u[flip, :, 2] *= -1.0
    rotation = u @ vt
    with np.errstate(all="ignore"):
        scale = np.einsum("fij,fij->f", rotation @ terms.centred, wt) / terms.denominator
        linear = scale[:, None, None] * rotation
        translation = ((wt - linear @ terms.ws) * terms.sqrt_w).sum(axis=2) / terms.total
    transforms = np.tile(np.eye(4), (count, 1, 1))
    transforms[:, :3, :3] = linear
    transforms[:, :3, 3] = translation
    ok &= np.isfinite(transforms).all(axis=(1, 2))
    return transforms, ok


def _solve_each(
    source: np.ndarray, targets: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    transforms = np.tile(np.eye(4), (len(targets), 1, 1))
    ok = np.zeros(len(targets), dtype=bool)
    for f, target in enumerate(targets):
        try:
            transforms[f] = solve_weighted_orthogonal(source, target, weights)
            ok[f] = True
        except GeometryError:
            continue
    return transforms, ok


def estimate_poses(
    landmarks: list[np.ndarray],
    width: int,
    height: int,
    fov_degrees: float,
) -> list[HeadPose | None]:
    """``estimate_pose`` of every face of one frame as array operations over the faces (the
    same numbers to within rounding); None for a face that gives no pose (where
    ``estimate_pose`` raises)."""
    if len(landmarks) == 1:  # one face: the array set-up would cost more than it saves
        try:
            return [estimate_pose(landmarks[0], width, height, fov_degrees)]
        except GeometryError:
            return [None]
    face = canonical_face()
    count = face.points.shape[1]
    poses: list[HeadPose | None] = [None] * len(landmarks)
    usable = [
        i
        for i, each in enumerate(landmarks)
        if np.asarray(each).shape[1:] == (3,)
        and len(each) >= count
        and np.all(np.isfinite(np.asarray(each, dtype=np.float64)[:count]))
    ]
    if not usable:
        return poses
    try:
        frustum = Frustum.for_frame(width, height, fov_degrees)
    except GeometryError:
        return poses
    pixels = np.stack([np.asarray(landmarks[i], dtype=np.float64)[:count] for i in usable])
    normalised = (pixels / np.array([width, height, width])).transpose(0, 2, 1)
    centre = normalised[:, :2].mean(axis=2, keepdims=True)
    spread = np.sqrt(((normalised[:, :2] - centre) ** 2).sum(axis=1)).max(axis=1)
    ok = spread > _TOO_COMPACT
    projected = _project_xy_many(frustum, normalised)
    offset = projected[:, 2].mean(axis=1)
    terms = _SourceTerms.of(face.points, face.weights)
    # Only the weighted points enter the solves; the depth offset above needed them all.
    projected = projected[:, :, terms.support]

    def solve(targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return _solve_many(
            terms, targets, face.points[:, terms.support], face.weights[terms.support]
        )

    first = projected.copy()
    first[:, 2] *= -1.0
    with np.errstate(all="ignore"):
        transforms, solved = solve(first)
        first_scale = np.linalg.norm(transforms[:, :3, 0], axis=1)
        ok &= solved & (first_scale > 0)
        first_scale = np.where(ok, first_scale, 1.0)
        transforms, solved = solve(_unproject_many(frustum, projected, offset, first_scale))
        second_scale = np.linalg.norm(transforms[:, :3, 0], axis=1)
        ok &= solved & (second_scale > 0)
        second_scale = np.where(ok, second_scale, 1.0)
        metric = _unproject_many(frustum, projected, offset, first_scale * second_scale)
        ok &= np.isfinite(metric).all(axis=(1, 2))
        metric[~ok] = face.points[:, terms.support]  # any finite stand-in; its result is dropped
        matrices, solved = solve(metric)
        ok &= solved
        scales = np.cbrt(np.linalg.det(matrices[:, :3, :3]))
    for row, index in enumerate(usable):
        scale = float(scales[row])
        if not (ok[row] and np.isfinite(scale) and scale > 0):
            continue
        matrix = matrices[row]
        pitch, yaw, roll = euler_degrees(matrix[:3, :3] / scale)
        poses[index] = HeadPose(matrix, pitch, yaw, roll)
    return poses


def _project_xy_many(frustum: Frustum, normalised: np.ndarray) -> np.ndarray:
    """``_project_xy`` of [F, 3, N] points."""
    x_scale = frustum.right - frustum.left
    y_scale = frustum.top - frustum.bottom
    out = np.empty_like(normalised)
    out[:, 0] = normalised[:, 0] * x_scale + frustum.left
    out[:, 1] = (1.0 - normalised[:, 1]) * y_scale + frustum.bottom
    out[:, 2] = normalised[:, 2] * x_scale
    return out


def _unproject_many(
    frustum: Frustum, projected: np.ndarray, offset: np.ndarray, scale: np.ndarray
) -> np.ndarray:
    """``_unproject`` of [F, 3, N] points, ``offset`` and ``scale`` per face [F]."""
    out = np.empty_like(projected)
    depth = (projected[:, 2] - offset[:, None] + frustum.near) / scale[:, None]
    out[:, 0] = projected[:, 0] * depth / frustum.near
    out[:, 1] = projected[:, 1] * depth / frustum.near
    out[:, 2] = -depth
    return out


def project_canonical(
    matrix: np.ndarray, width: int, height: int, fov_degrees: float
) -> np.ndarray:
    """The inverse direction, for tests and tools: the canonical face posed by ``matrix`` and
    seen by the camera, as float64 [468, 3] landmarks in frame pixels with z on the x scale
    (relative depth, as the landmark model gives it)."""
    face = canonical_face()
    camera = (
        np.asarray(matrix, dtype=np.float64)
        @ np.vstack([face.points, np.ones(face.points.shape[1])])
    )[:3]
    return project_points(camera, width, height, fov_degrees)


def project_points(
    camera: np.ndarray,
    width: int,
    height: int,
    fov_degrees: float,
    mean_depth: float | None = None,
) -> np.ndarray:
    """float [3, N] camera-space points (cm) -> float64 [N, 3] frame pixels, z relative to
    ``mean_depth`` (None: the points' own mean depth) on the x scale."""
    depth = -np.asarray(camera[2], dtype=np.float64)
    if not np.all(depth > 0):
        raise GeometryError("the posed face is not in front of the camera")
    frustum = Frustum.for_frame(width, height, fov_degrees)
    mean_depth = float(depth.mean()) if mean_depth is None else mean_depth
    near_x = camera[0] * frustum.near / depth
    near_y = camera[1] * frustum.near / depth
    near_z = (depth - mean_depth) * frustum.near / mean_depth
    x_scale = frustum.right - frustum.left
    y_scale = frustum.top - frustum.bottom
    out = np.empty((camera.shape[1], 3))
    out[:, 0] = (near_x - frustum.left) / x_scale * width
    out[:, 1] = (1.0 - (near_y - frustum.bottom) / y_scale) * height
    out[:, 2] = near_z / x_scale * width
    return out


def pixel_rays(
    pixels: np.ndarray,
    width: int,
    height: int,
    fov_degrees: float,
) -> np.ndarray:
    """float [N, 2] frame pixels -> float64 [N, 3] unit camera-space directions of the rays
    from the camera centre through them (the inverse of ``project_points`` for x, y)."""
    xy = np.asarray(pixels, dtype=np.float64)[:, :2]
    frustum = Frustum.for_frame(width, height, fov_degrees)
    normalised = np.vstack([(xy / np.array([width, height])).T, np.zeros(len(xy))])
    near = _project_xy(frustum, normalised)
    near[2] = -frustum.near
    rays: np.ndarray = (near / np.linalg.norm(near, axis=0)).T
    return rays
