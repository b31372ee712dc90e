"""Model outputs in model-input pixels (px192) -> per-crop results in posted-image pixels."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from service.contract import IRIS_REGIONS, REGION_ORDER, ModelOutputs
from service.processing.preprocess import CropTransform

# The attention grid is 16x16 cells; feature-map units are px192 / 4.
_GRID_CELLS = 16.0
_FEATURE_STRIDE_PX = 4.0


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
    coordinates to 48x48 feature-map coordinates; px192 = 4 * feature, grid = 16 * unit.
    """
    matrix = np.asarray(region_transform, dtype=np.float64)
    out = np.zeros((*matrix.shape[:-2], 3, 3))
    out[..., :2, :] = _FEATURE_STRIDE_PX * matrix[..., :2, [0, 1, 3]]
    out[..., :2, :2] *= _GRID_CELLS
    out[..., 2, 2] = 1.0
    return out


def _crop_matrices(transforms: Sequence[CropTransform]) -> np.ndarray:
    """float64 [N, 3, 3] px192 -> posted pixels, one per crop."""
    return np.stack([t.matrix() for t in transforms])


def _map_points(points: np.ndarray, matrices: np.ndarray) -> np.ndarray:
    """float32 [N, K, 2|3] px192 -> float64 [N, K, 2|3] posted pixels (z scaled like x).

    The crop matrices are axis-aligned (scale + offset), so each axis maps on its own.
    """
    out = np.asarray(points, dtype=np.float64).copy()
    scale = matrices[:, [0, 1], [0, 1]][:, None, :]  # [N, 1, 2]
    shift = matrices[:, :2, 2][:, None, :]
    out[..., :2] = out[..., :2] * scale + shift
    if out.shape[-1] == 3:
        out[..., 2] *= scale[..., 0]
    return out


def postprocess(
    outputs: ModelOutputs, transforms: Sequence[CropTransform], score_threshold: float
) -> list[FaceResult]:
    """One ``FaceResult`` per crop, in the order of ``transforms`` (vectorised over the batch)."""
    if outputs.batch_size != len(transforms):
        raise ValueError(f"{outputs.batch_size} model results for {len(transforms)} crops")
    matrices = _crop_matrices(transforms)
    landmarks = _map_points(outputs.landmarks, matrices)
    points = {
        name: _map_points(getattr(outputs, name), matrices)
        for name in (*REGION_ORDER, *IRIS_REGIONS)
    }
    # [N, 3, 3, 3]: crop matrix @ region unit-square matrix, for the three regions.
    affines = np.einsum("nij,nkjl->nkil", matrices, unit_square_to_px192(outputs.region_transforms))
    results: list[FaceResult] = []
    for i, transform in enumerate(transforms):
        score = float(outputs.face_score[i])
        if not score >= score_threshold:  # also catches NaN
            results.append(FaceResult(transform.width, transform.height, score, None, None))
            continue
        regions = {
            name: Region(points[name][i], affines[i, k, :2]) for k, name in enumerate(REGION_ORDER)
        }
        regions.update({name: Region(points[name][i], None) for name in IRIS_REGIONS})
        results.append(FaceResult(transform.width, transform.height, score, landmarks[i], regions))
    return results
