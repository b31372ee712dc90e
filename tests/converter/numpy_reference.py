"""Independent numpy transcriptions of MediaPipe's v2 attention kernels (loops, no ONNX).

Written from docs/mediapipe_semantics.md (section 2) as direct loops over points and
pixels, so they share no code with the converter's vectorised ONNX expressions.
"""

from __future__ import annotations

import math

import numpy as np


def landmarks_to_transform_matrix(
    landmarks: np.ndarray,
    subset: list[int],
    left: int,
    right: int,
    target: float,
    out_w: int,
    out_h: int,
    scale_x: float,
    scale_y: float,
) -> np.ndarray:
    """[L, 3] landmarks -> [4, 4] float64 matrix.

    Built as the product Shift(c) Rot(-r) Scale Shift(-W/2, -H/2).
    """
    lx, ly = landmarks[left, :2]
    rx, ry = landmarks[right, :2]
    r = target - math.atan2(ry - ly, rx - lx)
    pairs = [
        (subset[i], subset[i + 1] if i + 1 < len(subset) else subset[i])
        for i in range(0, len(subset), 2)
    ]
    points = [landmarks[i, :2] for pair in pairs for i in pair]
    rotated = [
        (math.cos(r) * x - math.sin(r) * y, math.sin(r) * x + math.cos(r) * y) for x, y in points
    ]
    min_x = max_x = rotated[0][0]
    min_y = max_y = rotated[0][1]
    for x, y in rotated[1:]:
        min_x, max_x = min(min_x, x), max(max_x, x)
        min_y, max_y = min(min_y, y), max(max_y, y)
    mx, my = (min_x + max_x) / 2, (min_y + max_y) / 2
    cx = math.cos(-r) * mx - math.sin(-r) * my
    cy = math.sin(-r) * mx + math.cos(-r) * my

    def shift(dx: float, dy: float) -> np.ndarray:
        m = np.eye(4)
        m[0, 3], m[1, 3] = dx, dy
        return m

    rot = np.eye(4)
    rot[:2, :2] = [[math.cos(-r), -math.sin(-r)], [math.sin(-r), math.cos(-r)]]
    scale = np.diag([scale_x * (max_x - min_x) / out_w, scale_y * (max_y - min_y) / out_h, 1, 1])
    return shift(cx, cy) @ rot @ scale @ shift(-out_w / 2, -out_h / 2)


def transform_tensor_bilinear(
    feature: np.ndarray, matrix: np.ndarray, out_h: int, out_w: int
) -> np.ndarray:
    """[H, W, C] map, [4, 4] matrix -> [out_h, out_w, C], MediaPipe v2 rules."""
    height, width, channels = feature.shape
    out = np.zeros((out_h, out_w, channels), np.float64)
    for v in range(out_h):
        for u in range(out_w):
            x = matrix[0, 0] * (u + 0.5) + matrix[0, 1] * (v + 0.5) + matrix[0, 3] - 0.5
            y = matrix[1, 0] * (u + 0.5) + matrix[1, 1] * (v + 0.5) + matrix[1, 3] - 0.5
            if x < 0 or x > width - 1 or y < 0 or y > height - 1:
                continue  # all channels 0
            x0, y0 = math.floor(x), math.floor(y)
            fx, fy = x - x0, y - y0

            def at(yy: int, xx: int) -> np.ndarray:
                inside = 0 <= yy < height and 0 <= xx < width
                return feature[yy, xx] if inside else np.zeros(channels)

            out[v, u] = (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x0 + 1)) + fy * (
                (1 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1)
            )
    return out


def transform_landmarks(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """[K, D] points (D = 2 or 3), [4, 4] matrix -> [K, D]; z passes through."""
    out = np.array(points, np.float64)
    for k, point in enumerate(points):
        x, y = point[0], point[1]
        out[k, 0] = matrix[0, 0] * x + matrix[0, 1] * y + matrix[0, 3]
        out[k, 1] = matrix[1, 0] * x + matrix[1, 1] * y + matrix[1, 3]
    return out
