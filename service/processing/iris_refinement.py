"""NumPy steps of the pre-attention cascade: mesh -> eye ROIs -> 64x64 eye crops -> iris model
outputs projected back -> 478 points, following MediaPipe's iris tracking graph.

Everything is in px192 (pixel-edge convention, z on the x scale), like the fused model's
outputs. The MediaPipe facts this module reproduces (``mediapipe/modules/iris_landmark/`` and
``mediapipe/graphs/iris_tracking/``, checked against the sources of the 0.10.21 era):

* **Eye ROI** (``IrisLandmarkLandmarksToRoi``): the two eye corners, mesh 33 -> 133 (left eye)
  and 362 -> 263 (right eye). Centre = centre of their bounding box; rotation =
  ``atan2(y1 - y0, x1 - x0)`` (``DetectionsToRectsCalculator`` with target angle 0); side =
  ``2.3 * max(|x1 - x0|, |y1 - y0|)`` (``RectTransformationCalculator``, ``square_long``,
  scale 2.3). Not the corner distance: a tilted eye gets a smaller ROI, as in MediaPipe.
* **Crop** (``IrisLandmarkCpu``): the rotated square is cropped with the border replicated and
  resized to 64x64; the input range is [0, 1] (``zero_center: false``). The right eye's crop is
  mirrored horizontally before the model (``FLIP_HORIZONTALLY: is_right_eye``) and the model's
  x is mirrored back (``x = 64 - x``) before projection. Here the crop is one bilinear
  resampling of the rotated square straight to 64x64, rounded to uint8 (the model's input).
* **Projection** (``LandmarkProjectionCalculator``): crop unit square -> image through the ROI;
  z is scaled by the ROI's side (``z / 64 * side``).
* **Merge** (``UpdateFaceLandmarksCalculator`` + ``ConcatenateNormalizedLandmarkList``): the 71
  eye-contour points of each eye overwrite x, y **and z** of the mesh at ``LEFT_EYE``
  / ``RIGHT_EYE`` (the same lists as the attention model's eye regions); then the left
  iris (5) and the right iris (5) are appended: 478 points, with the iris z from the iris model.

The cascade has no lips model (MediaPipe never shipped the paper's lips model), so the lips
"region" is the mesh's own 80 lips points with the attention model's box construction
(``region_box``: rotation 61 -> 291, 1.5x the upright tight box) computed on the mesh.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from service.contract import (
    IRIS_INPUT_SIZE,
    LEFT_EYE,
    LEFT_EYE_CORNERS,
    LIPS,
    LIPS_CORNERS,
    REGION_FEATURE_STRIDE_PX,
    REGION_GRID_CELLS,
    RIGHT_EYE,
    RIGHT_EYE_CORNERS,
    ModelOutputs,
)

EYE_ROI_SCALE = 2.3
REGION_BOX_SCALE = 1.5


@dataclass(frozen=True)
class EyeRois:
    """Rotated square eye ROIs in px192, float64, for N faces and both eyes.

    centre: [N, 2, 2] (x, y); side: [N, 2]; rotation: [N, 2] radians. Eye axis 0 = left,
    1 = right (MediaPipe's names).
    """

    centre: np.ndarray
    side: np.ndarray
    rotation: np.ndarray

    def unit_to_px192(self) -> np.ndarray:
        """float64 [N, 2, 2, 3]: affine from each ROI's unit square (u, v in 0..1, unmirrored)
        to px192: ``[x, y] = A @ [u, v, 1]``."""
        cos, sin = np.cos(self.rotation), np.sin(self.rotation)
        linear = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], -2)
        linear = linear * self.side[..., None, None]  # [N, 2, 2, 2]
        shift = self.centre - linear @ np.array([0.5, 0.5])
        return np.concatenate([linear, shift[..., None]], axis=-1)

    def crop_to_px192(self) -> np.ndarray:
        """float64 [N, 2, 2, 3]: affine from the model's 64x64 crop pixels (pixel-edge) to
        px192, the right eye's mirror included (crop x -> u = 1 - x / 64)."""
        unit = self.unit_to_px192()
        from_crop = np.zeros((2, 3, 3))
        from_crop[0] = np.diag([1.0 / IRIS_INPUT_SIZE, 1.0 / IRIS_INPUT_SIZE, 1.0])
        from_crop[1] = from_crop[0]
        from_crop[1, 0] = (-1.0 / IRIS_INPUT_SIZE, 0.0, 1.0)  # right eye: u = 1 - x / 64
        return np.asarray(unit @ from_crop)


def eye_rois(mesh: np.ndarray) -> EyeRois:
    """float [N, 468, 2|3] mesh in px192 -> both eyes' ROIs (``IrisLandmarkLandmarksToRoi``)."""
    points = np.asarray(mesh, dtype=np.float64)[..., :2]
    corners = np.stack(
        [points[:, list(LEFT_EYE_CORNERS)], points[:, list(RIGHT_EYE_CORNERS)]], axis=1
    )  # [N, 2 eyes, 2 corners, 2]
    start, end = corners[:, :, 0], corners[:, :, 1]
    centre = (corners.min(axis=2) + corners.max(axis=2)) / 2.0
    delta = end - start
    rotation = np.arctan2(delta[..., 1], delta[..., 0])
    side = EYE_ROI_SCALE * np.abs(delta).max(axis=-1)
    return EyeRois(centre, side, rotation)


def _bilinear_replicate(image: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Sample uint8 [H, W, 3] at float index-space positions ``xs``, ``ys`` (any shape S) with
    bilinear weights and replicated borders -> float32 [*S, 3]."""
    height, width = image.shape[:2]
    x0 = np.floor(xs)
    y0 = np.floor(ys)
    fx = (xs - x0).astype(np.float32)[..., None]
    fy = (ys - y0).astype(np.float32)[..., None]
    x0i = x0.astype(np.int64)
    y0i = y0.astype(np.int64)
    xa, xb = np.clip(x0i, 0, width - 1), np.clip(x0i + 1, 0, width - 1)
    ya, yb = np.clip(y0i, 0, height - 1), np.clip(y0i + 1, 0, height - 1)
    flat = image.reshape(-1, image.shape[2]).astype(np.float32)
    top_a, top_b = flat[ya * width + xa], flat[ya * width + xb]
    bottom_a, bottom_b = flat[yb * width + xa], flat[yb * width + xb]
    top = top_a * (1.0 - fx) + top_b * fx
    bottom = bottom_a * (1.0 - fx) + bottom_b * fx
    return np.asarray(top * (1.0 - fy) + bottom * fy, dtype=np.float32)


# Pixel-centre coordinates of the 64x64 crop, homogeneous: [64, 64, 3] (x, y, 1), crop pixels.
_CENTRES = np.arange(IRIS_INPUT_SIZE, dtype=np.float64) + 0.5
_CROP_GRID = np.stack(
    [*np.meshgrid(_CENTRES, _CENTRES, indexing="xy"), np.ones((IRIS_INPUT_SIZE, IRIS_INPUT_SIZE))],
    axis=-1,
)


def crop_eyes(images: np.ndarray, rois: EyeRois) -> np.ndarray:
    """uint8 [N, H, W, 3] -> uint8 [2N, 64, 64, 3] eye crops, ordered face 0 left, face 0 right,
    face 1 left, ...; the right eye's crop is mirrored, as MediaPipe feeds the iris model."""
    count = images.shape[0]
    if rois.side.shape != (count, 2):
        raise ValueError(f"{rois.side.shape[0]} ROIs for {count} images")
    # [N, 2, 64, 64, 2] sampling positions in px192 (pixel-edge) -> index space (- 0.5)
    positions = np.einsum("hwk,nejk->nehwj", _CROP_GRID, rois.crop_to_px192()) - 0.5
    crops = np.empty((count, 2, IRIS_INPUT_SIZE, IRIS_INPUT_SIZE, 3), dtype=np.uint8)
    for i in range(count):
        sampled = _bilinear_replicate(images[i], positions[i, ..., 0], positions[i, ..., 1])
        crops[i] = np.clip(np.rint(sampled), 0, 255).astype(np.uint8)
    return crops.reshape(count * 2, IRIS_INPUT_SIZE, IRIS_INPUT_SIZE, 3)


def project_eye_points(points: np.ndarray, rois: EyeRois) -> np.ndarray:
    """float32 [N, 2, K, 3] iris-model points in crop pixels (as the model emits them, right eye
    still mirrored) -> float64 [N, 2, K, 3] px192; z scaled like x (``z / 64 * side``)."""
    raw = np.asarray(points, dtype=np.float64)
    affines = rois.crop_to_px192()  # includes the right eye's mirror
    xy1 = np.concatenate([raw[..., :2], np.ones((*raw.shape[:-1], 1))], axis=-1)
    out = np.empty_like(raw)
    out[..., :2] = np.einsum("nekj,neij->neki", xy1, affines)
    out[..., 2] = raw[..., 2] / IRIS_INPUT_SIZE * rois.side[..., None]
    return out


def merge_landmarks(mesh: np.ndarray, eyes: np.ndarray, irises: np.ndarray) -> np.ndarray:
    """Mesh float [N, 468, 3] + eye contours [N, 2, 71, 3] + irises [N, 2, 5, 3] (px192) ->
    float32 [N, 478, 3], MediaPipe's iris-tracking merge (x, y and z overwritten)."""
    count = mesh.shape[0]
    merged = np.asarray(mesh, dtype=np.float64).copy()
    merged[:, list(LEFT_EYE)] = eyes[:, 0]
    merged[:, list(RIGHT_EYE)] = eyes[:, 1]
    return np.concatenate([merged, irises.reshape(count, 10, 3)], axis=1).astype(np.float32)


def region_box(points: np.ndarray, start: int, end: int, scale: float) -> np.ndarray:
    """float [N, K, 2] px192 -> float64 [N, 2, 3] affine from the unit square to px192 of the
    box the attention model builds for a region (``Landmarks2TransformMatrix``): rotation from
    point ``start`` to point ``end`` (indices into K), the points' tight box after rotating them
    upright, scaled by ``scale`` about its centre."""
    xy = np.asarray(points, dtype=np.float64)[..., :2]
    delta = xy[:, end] - xy[:, start]
    theta = np.arctan2(delta[:, 1], delta[:, 0])
    cos, sin = np.cos(theta), np.sin(theta)
    rotation = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], -2)  # R(theta)
    upright = np.einsum("nji,nkj->nki", rotation, xy)  # R(theta)^T p
    low, high = upright.min(axis=1), upright.max(axis=1)
    centre = np.einsum("nij,nj->ni", rotation, (low + high) / 2.0)
    linear = rotation * ((high - low) * scale)[:, None, :]
    shift = centre - linear @ np.array([0.5, 0.5])
    return np.concatenate([linear, shift[..., None]], axis=-1)


def unit_affine_to_region_transform(affine: np.ndarray) -> np.ndarray:
    """float [..., 2, 3] unit square -> px192 affine -> float32 [..., 4, 4] in the fused model's
    ``region_transforms`` convention (16x16 attention grid -> 48x48 feature map), so the
    cascade's regions go through the same postprocess as the fused model's."""
    affine = np.asarray(affine, dtype=np.float64)
    out = np.zeros((*affine.shape[:-2], 4, 4))
    # The inverse of postprocess.unit_square_to_px192.
    out[..., :2, :2] = affine[..., :2] / (REGION_FEATURE_STRIDE_PX * REGION_GRID_CELLS)
    out[..., :2, 3] = affine[..., 2] / REGION_FEATURE_STRIDE_PX
    out[..., 2, 2] = 1.0
    out[..., 3, 3] = 1.0
    return out.astype(np.float32)


def assemble_outputs(
    mesh: np.ndarray,
    face_score: np.ndarray,
    rois: EyeRois,
    eye_contour: np.ndarray,
    iris: np.ndarray,
) -> ModelOutputs:
    """The cascade's results in the fused model's output contract (px192).

    mesh float32 [N, 468, 3] and face_score [N] from the mesh model; eye_contour [2N, 71, 3] and
    iris [2N, 5, 3] from the iris model on ``crop_eyes``' crops (same order). ``landmarks`` is
    the merged 478; ``lips`` the mesh's lips points; the eye/iris outputs the projected iris
    model points; ``region_transforms`` the mesh-derived lips box and the two eye ROIs.
    """
    count = mesh.shape[0]
    eyes = project_eye_points(eye_contour.reshape(count, 2, -1, 3), rois)
    irises = project_eye_points(iris.reshape(count, 2, -1, 3), rois)
    lips = np.asarray(mesh, dtype=np.float32)[:, list(LIPS), :2]
    lips_box = region_box(
        lips,
        LIPS.index(LIPS_CORNERS[0]),
        LIPS.index(LIPS_CORNERS[1]),
        REGION_BOX_SCALE,
    )
    boxes = np.concatenate([lips_box[:, None], rois.unit_to_px192()], axis=1)  # [N, 3, 2, 3]
    return ModelOutputs(
        landmarks=merge_landmarks(mesh, eyes, irises),
        mesh=np.asarray(mesh, dtype=np.float32),
        lips=np.ascontiguousarray(lips),
        left_eye=eyes[:, 0, :, :2].astype(np.float32),
        right_eye=eyes[:, 1, :, :2].astype(np.float32),
        left_iris=irises[:, 0, :, :2].astype(np.float32),
        right_iris=irises[:, 1, :, :2].astype(np.float32),
        region_transforms=unit_affine_to_region_transform(boxes),
        face_score=np.asarray(face_score, dtype=np.float32).reshape(count),
    )
