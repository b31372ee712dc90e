"""Model outputs in model-input pixels (px192) -> per-crop results in posted-image pixels."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from service.inference.base import ModelOutputs
from service.processing.preprocess import CropTransform

# Order of the regions in the model's ``region_transforms`` output.
TRANSFORM_REGIONS: tuple[str, ...] = ("lips", "left_eye", "right_eye")
IRIS_REGIONS: tuple[str, ...] = ("left_iris", "right_iris")

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
    """float32 [4, 4] Landmarks2TransformMatrix output -> float64 [3, 3] unit square -> px192.

    Rows 0-1 of the input are [[a, b, 0, tx], [c, d, 0, ty]], mapping 16x16 attention-grid
    coordinates to 48x48 feature-map coordinates; px192 = 4 * feature, grid = 16 * unit.
    """
    affine = np.asarray(region_transform, dtype=np.float64)[:2][:, [0, 1, 3]]
    grid_from_unit = np.diag([_GRID_CELLS, _GRID_CELLS, 1.0])
    out = np.eye(3)
    out[:2] = _FEATURE_STRIDE_PX * affine @ grid_from_unit
    return out


def _map_points(points: np.ndarray, transform: CropTransform) -> np.ndarray:
    """float32 [K, 2|3] px192 -> float64 [K, 2|3] posted pixels (z scaled like x)."""
    out = np.asarray(points, dtype=np.float64).copy()
    out[:, 0] = (out[:, 0] - transform.offset_x) * transform.scale_x
    out[:, 1] = (out[:, 1] - transform.offset_y) * transform.scale_y
    if out.shape[1] == 3:
        out[:, 2] *= transform.scale_x
    return out


def postprocess(
    outputs: ModelOutputs, transforms: Sequence[CropTransform], score_threshold: float
) -> list[FaceResult]:
    """One ``FaceResult`` per crop, in the order of ``transforms``."""
    if outputs.batch_size != len(transforms):
        raise ValueError(f"{outputs.batch_size} model results for {len(transforms)} crops")
    results: list[FaceResult] = []
    for i, transform in enumerate(transforms):
        score = float(outputs.face_score[i])
        if not score >= score_threshold:  # also catches NaN
            results.append(FaceResult(transform.width, transform.height, score, None, None))
            continue
        regions: dict[str, Region] = {}
        posted_from_px192 = transform.matrix()
        for k, name in enumerate(TRANSFORM_REGIONS):
            affine = (posted_from_px192 @ unit_square_to_px192(outputs.region_transforms[i, k]))[:2]
            points = getattr(outputs, name)[i]
            regions[name] = Region(_map_points(points, transform), affine)
        for name in IRIS_REGIONS:
            regions[name] = Region(_map_points(getattr(outputs, name)[i], transform), None)
        results.append(
            FaceResult(
                transform.width,
                transform.height,
                score,
                _map_points(outputs.landmarks[i], transform),
                regions,
            )
        )
    return results
