"""Face ROIs in a frame and the landmark model's results projected back onto the frame.

ROIs follow MediaPipe's face-mesh graphs (``docs/mediapipe_semantics.md`` §3):

* from a detection (``FaceDetectionFrontDetectionToRoi``): the detection box, rotated so the
  line from keypoint 0 (left eye) to keypoint 1 (right eye) is horizontal;
* from the previous frame's landmarks (``FaceLandmarkLandmarksToRoi``): the bounding box of
  all 478 landmarks, rotated by the line from landmark 33 to landmark 263;

then both go through ``RectTransformation`` with ``square_long`` (side = the longer side in
pixels) and scale 1.5. ``rotation = normalize(0 − atan2(−(y1 − y0), x1 − x0))`` in pixels.

The landmark model's outputs go back to frame pixels through ``roi_to_frame`` (the ROI's
px192 -> frame affine) and ``service.processing.postprocess.project``, the one projection of
crops and frames.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from service.contract import DETECTION_EYES, FACE_ROTATION, MODEL_INPUT_SIZE
from service.processing.detection import Detection
from service.processing.warp import RotatedRect, crop_to_frame

ROI_SCALE = 1.5
# AssociationNormRectCalculator's min_similarity_threshold in the face-mesh graph.
ASSOCIATION_IOU = 0.5


def normalize_radians(angle: float) -> float:
    """``angle`` wrapped into [-π, π) as MediaPipe's ``NormalizeRadians``."""
    return angle - 2.0 * math.pi * math.floor((angle + math.pi) / (2.0 * math.pi))


def rotation_from(start: np.ndarray, end: np.ndarray) -> float:
    """ROI rotation (radians) that makes the pixel vector start -> end horizontal."""
    return normalize_radians(0.0 - math.atan2(-(end[1] - start[1]), end[0] - start[0]))


def transform_rect(
    center_x: float, center_y: float, width: float, height: float, rotation: float
) -> RotatedRect:
    """``RectTransformation`` with ``square_long`` and scale 1.5 (all in pixels)."""
    side = max(width, height) * ROI_SCALE
    return RotatedRect(center_x, center_y, side, side, rotation)


def roi_from_detection(detection: Detection) -> RotatedRect:
    """The landmark model's ROI for one detection (frame pixels)."""
    xmin, ymin, width, height = (float(v) for v in detection.box)
    rotation = rotation_from(
        detection.keypoints[DETECTION_EYES[0]], detection.keypoints[DETECTION_EYES[1]]
    )
    return transform_rect(xmin + width / 2.0, ymin + height / 2.0, width, height, rotation)


def roi_from_landmarks(landmarks: np.ndarray) -> RotatedRect:
    """The next frame's ROI from float [478, 2|3] landmarks in frame pixels."""
    points = np.asarray(landmarks, dtype=np.float64)[:, :2]
    low, high = points.min(axis=0), points.max(axis=0)
    size = high - low
    centre = low + size / 2.0
    rotation = rotation_from(points[FACE_ROTATION[0]], points[FACE_ROTATION[1]])
    return transform_rect(
        float(centre[0]), float(centre[1]), float(size[0]), float(size[1]), rotation
    )


def normalized_iou(a: RotatedRect, b: RotatedRect, width: int, height: int) -> float:
    """IoU of the rectangles' unrotated boxes in frame-normalised units, as
    ``AssociationNormRectCalculator`` compares ``NormalizedRect``s."""
    ax0, ay0 = (a.center_x - a.width / 2) / width, (a.center_y - a.height / 2) / height
    ax1, ay1 = ax0 + a.width / width, ay0 + a.height / height
    bx0, by0 = (b.center_x - b.width / 2) / width, (b.center_y - b.height / 2) / height
    bx1, by1 = bx0 + b.width / width, by0 + b.height / height
    ix = min(ax1, bx1) - max(ax0, bx0)
    iy = min(ay1, by1) - max(ay0, by0)
    if ix <= 0 or iy <= 0:
        return 0.0
    inter = ix * iy
    union = (ax1 - ax0) * (ay1 - ay0) + (bx1 - bx0) * (by1 - by0) - inter
    return inter / union if union > 0 else 0.0


def associate(
    groups: Sequence[Sequence[tuple[RotatedRect, int]]], width: int, height: int
) -> list[tuple[RotatedRect, int]]:
    """``AssociationNormRectCalculator`` (threshold 0.5): merge ROI lists in priority order.

    Each item is (rect, tag). An item whose IoU with an item already kept is > 0.5 replaces
    it, so later groups (e.g. ROIs from the previous frame's landmarks) win over earlier ones
    (ROIs from this frame's detections), as in MediaPipe's face-mesh graph.
    """
    kept: list[tuple[RotatedRect, int]] = []
    for group in groups:
        for rect, tag in group:
            kept = [
                item
                for item in kept
                if normalized_iou(rect, item[0], width, height) <= ASSOCIATION_IOU
            ]
            kept.append((rect, tag))
    return kept


def roi_to_frame(rects: Sequence[RotatedRect]) -> np.ndarray:
    """float64 [N, 3, 3]: each ROI's px192 -> frame-pixel affine (``LandmarkProjection``), for
    ``service.processing.postprocess.project``."""
    size = MODEL_INPUT_SIZE
    return np.stack([crop_to_frame(rect, size, size) for rect in rects]).reshape(-1, 3, 3)
