"""Rotated-rectangle crops of a frame, as MediaPipe's CPU ``ImageToTensor`` makes them.

A ``RotatedRect`` (centre, size and rotation in frame pixels) is cut out of the frame and
stretched onto an ``out_w x out_h`` tensor: the rectangle's four corners (OpenCV
``boxPoints``, angle in degrees) are mapped onto the output corners (0, H), (0, 0), (W, 0),
(W, H) with a perspective transform and resampled with ``warpPerspective``, bilinear
(``INTER_LINEAR``). Outside the frame the border is replicated (the landmark model) or zero
(the detector's letterbox). This is MediaPipe's OpenCV converter step for step, so the pixels
we feed the models are the ones MediaPipe feeds them (``docs/mediapipe_semantics.md`` §3).

``crop_to_frame`` is the inverse used for results: it maps output-tensor pixels
(pixel-edge convention, x = 0 the left edge of column 0) to frame pixels the way MediaPipe's
``LandmarkProjectionCalculator`` does, ``p = c + R(θ) · (q / out − 0.5) · size``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

BorderMode = Literal["replicate", "zero"]

_BORDERS: dict[str, int] = {"replicate": cv2.BORDER_REPLICATE, "zero": cv2.BORDER_CONSTANT}


@dataclass(frozen=True)
class RotatedRect:
    """A rectangle in frame pixels: centre, size, and rotation in radians (MediaPipe's sign:
    positive turns the rectangle clockwise on screen, y pointing down)."""

    center_x: float
    center_y: float
    width: float
    height: float
    rotation: float = 0.0


def corners(rect: RotatedRect) -> np.ndarray:
    """float32 [4, 2] corners in OpenCV ``boxPoints`` order (bottom-left, top-left, top-right,
    bottom-right of the unrotated rectangle)."""
    box = ((rect.center_x, rect.center_y), (rect.width, rect.height), math.degrees(rect.rotation))
    return np.asarray(cv2.boxPoints(box), dtype=np.float32)


def warp_matrix(rect: RotatedRect, out_w: int, out_h: int) -> np.ndarray:
    """float64 [3, 3] perspective matrix from frame pixels to output pixels (OpenCV's)."""
    dst = np.array([[0, out_h], [0, 0], [out_w, 0], [out_w, out_h]], dtype=np.float32)
    return np.asarray(cv2.getPerspectiveTransform(corners(rect), dst), dtype=np.float64)


def warp_rect(
    image: np.ndarray, rect: RotatedRect, out_w: int, out_h: int, border: BorderMode
) -> np.ndarray:
    """Crop ``rect`` out of uint8 [H, W, 3] ``image`` into uint8 [out_h, out_w, 3]."""
    return warp_through(image, warp_matrix(rect, out_w, out_h), out_w, out_h, border)


def warp_through(
    image: np.ndarray, matrix: np.ndarray, out_w: int, out_h: int, border: BorderMode
) -> np.ndarray:
    """Resample uint8 [H, W, 3] ``image`` through the 3x3 frame -> output ``matrix``, bilinear.

    The matrix is MediaPipe's (``getPerspectiveTransform`` of the ROI's corners), but a
    rectangle onto a rectangle is affine: its last row is (0, 0, 1) up to float32 rounding
    (about 1e-10). ``cv2.warpAffine`` on its first two rows samples the same points at half the
    CPU of ``warpPerspective``, which also spreads one small warp over OpenCV's threads (0.08
    vs 0.29 ms CPU for a 192x192 crop here); pixels differ from ``warpPerspective``'s only by
    its fixed-point rounding (mean 0.07 grey levels)."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"want uint8 [H, W, 3], got {image.dtype} {image.shape}")
    affine = np.asarray(matrix, dtype=np.float64)
    affine = affine[:2] / affine[2, 2]
    out = cv2.warpAffine(
        image,
        affine,
        (out_w, out_h),
        flags=cv2.INTER_LINEAR,
        borderMode=_BORDERS[border],
        borderValue=(0, 0, 0),
    )
    return np.ascontiguousarray(out, dtype=np.uint8)


def crop_to_frame(rect: RotatedRect, out_w: int, out_h: int) -> np.ndarray:
    """float64 [3, 3] affine from output-tensor pixels (pixel-edge) to frame pixels."""
    cos, sin = math.cos(rect.rotation), math.sin(rect.rotation)
    rotation = np.array([[cos, -sin], [sin, cos]])
    linear = rotation @ np.diag([rect.width / out_w, rect.height / out_h])
    matrix = np.eye(3)
    matrix[:2, :2] = linear
    matrix[:2, 2] = np.array([rect.center_x, rect.center_y]) - rotation @ np.array(
        [rect.width / 2.0, rect.height / 2.0]
    )
    return matrix
