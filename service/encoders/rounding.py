"""The one rounding rule of every wire format: how many decimals each kind of value keeps.

0.001 px is far below the model's accuracy and keeps JSON short; the unitless values (affine
matrices, rotations, gaze directions) keep 5 decimals. The protobuf encoder applies the same
rule, so a tracking stream's numbers are the same over gRPC and WebSocket (protobuf then stores
them as float32).
"""

from __future__ import annotations

from typing import Final

import numpy as np

COORD_DECIMALS: Final = 3  # pixels: landmarks, boxes, keypoints, ROI centres and sizes
AFFINE_DECIMALS: Final = 5  # region affines, ROI rotation (radians)
POSE_DECIMALS: Final = 5  # pose matrix, Euler angles, iris distances
GAZE_DECIMALS: Final = 5  # gaze directions, angles, eyeball centres
BLENDSHAPE_DECIMALS: Final = 5  # blendshape scores (0..1)


def rounded(array: np.ndarray, decimals: int) -> np.ndarray:
    """float64, C-contiguous (what orjson serialises), rounded to ``decimals``."""
    return np.ascontiguousarray(np.round(np.asarray(array, dtype=np.float64), decimals))


def rounded_float(value: float, decimals: int) -> float:
    return round(float(value), decimals)
