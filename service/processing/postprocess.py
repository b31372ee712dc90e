"""Model outputs in model-input pixels (px192) -> results in posted-image pixels: ``project``,
one function for crops (``postprocess``) and frames (``service.pipelines.frames``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from service.contract import (
    IRIS_REGIONS,
    REGION_FEATURE_STRIDE_PX,
    REGION_GRID_CELLS,
    REGION_ORDER,
    ModelOutputs,
)
from service.processing.preprocess import CropTransform


@dataclass(frozen=True)
class Region:
    """One region: float64 [K, 2] landmarks and, for lips/eyes, the float64 [2, 3] affine that
    maps the region's unit square (u, v in 0..1) to posted-image pixels."""

    landmarks: np.ndarray
    affine: np.ndarray | None


@dataclass(frozen=True)
class FaceResult:
    """One crop's result. ``landmarks`` float64 [478, 3] and ``regions`` are None when
    ``score`` is below the threshold."""

    width: int
    height: int
    score: float
    landmarks: np.ndarray | None
    regions: dict[str, Region] | None


def unit_square_to_px192(region_transform: np.ndarray) -> np.ndarray:
    """float32 [..., 4, 4] Landmarks2TransformMatrix output -> float64 [..., 3, 3] mapping the
    region's unit square to px192.

    Rows 0-1 of the input are [[a, b, 0, tx], [c, d, 0, ty]], mapping 16x16 attention-grid
    coordinates to 48x48 feature-map coordinates (``contract.REGION_GRID_CELLS``,
    ``REGION_FEATURE_STRIDE_PX``).
    """
    matrix = np.asarray(region_transform, dtype=np.float64)
    out = np.zeros((*matrix.shape[:-2], 3, 3))
    out[..., :2, :] = REGION_FEATURE_STRIDE_PX * matrix[..., :2, [0, 1, 3]]
    out[..., :2, :2] *= REGION_GRID_CELLS
    out[..., 2, 2] = 1.0
    return out


def _map_points(points: np.ndarray, matrices: np.ndarray) -> np.ndarray:
    """float32 [N, K, 2|3] px192 -> float64 [N, K, 2|3] posted pixels through the float64
    [N, 3, 3] affines; z is scaled like the crop's x axis (the length of the matrix's first
    column: MediaPipe's ``LandmarkProjectionCalculator`` scales z by the ROI width).

    Written per coefficient rather than as a matmul, so an axis-aligned matrix (a crop)
    maps each axis on its own, exactly as ``x * scale + shift``."""
    values = np.asarray(points, dtype=np.float64)
    out = values.copy()
    m = matrices[:, None, :, :]  # [N, 1, 3, 3], broadcast over the K points
    x, y = values[..., 0], values[..., 1]
    out[..., 0] = x * m[..., 0, 0] + y * m[..., 0, 1] + m[..., 0, 2]
    out[..., 1] = x * m[..., 1, 0] + y * m[..., 1, 1] + m[..., 1, 2]
    if out.shape[-1] == 3:
        out[..., 2] *= np.hypot(m[..., 0, 0], m[..., 1, 0])
    return out


def project(
    outputs: ModelOutputs,
    matrices: np.ndarray,
    sizes: Sequence[tuple[int, int]],
    score_threshold: float,
) -> list[FaceResult]:
    """The one projection of the landmark model's outputs (px192) onto posted-image pixels,
    for crops and frames alike: face ``i`` through float64 [3, 3] ``matrices[i]`` (px192 ->
    posted pixels, affine), in an image of ``sizes[i]`` = (width, height). Landmarks, region
    points and the regions' unit-square affines (``matrices[i] @ unit_square_to_px192``; None
    where the model gives no region transforms, NaN);
    faces below ``score_threshold`` (or NaN) get no landmarks. Vectorised over the batch."""
    count = len(sizes)
    if outputs.batch_size != count or matrices.shape != (count, 3, 3):
        raise ValueError(
            f"{outputs.batch_size} model results for {count} faces and matrices {matrices.shape}"
        )
    landmarks = _map_points(outputs.landmarks, matrices)
    points = {
        name: _map_points(getattr(outputs, name), matrices)
        for name in (*REGION_ORDER, *IRIS_REGIONS)
    }
    # [N, 3, 3, 3]: face matrix @ region unit-square matrix, for the three regions.
    affines = np.einsum("nij,nkjl->nkil", matrices, unit_square_to_px192(outputs.region_transforms))
    # A model without region transforms (the landmarker: NaN) gives its regions no affine.
    with_affines = np.isfinite(outputs.region_transforms).all(axis=(1, 2, 3))
    results: list[FaceResult] = []
    for i, (width, height) in enumerate(sizes):
        score = float(outputs.face_score[i])
        if not score >= score_threshold:  # also catches NaN
            results.append(FaceResult(width, height, score, None, None))
            continue
        regions = {
            name: Region(points[name][i], affines[i, k, :2] if with_affines[i] else None)
            for k, name in enumerate(REGION_ORDER)
        }
        regions.update({name: Region(points[name][i], None) for name in IRIS_REGIONS})
        results.append(FaceResult(width, height, score, landmarks[i], regions))
    return results


def postprocess(
    outputs: ModelOutputs, transforms: Sequence[CropTransform], score_threshold: float
) -> list[FaceResult]:
    """One ``FaceResult`` per crop, in the order of ``transforms``."""
    if outputs.batch_size != len(transforms):
        raise ValueError(f"{outputs.batch_size} model results for {len(transforms)} crops")
    matrices = np.stack([t.matrix() for t in transforms]) if transforms else np.zeros((0, 3, 3))
    return project(outputs, matrices, [(t.width, t.height) for t in transforms], score_threshold)
