"""FaceLandmarker's rules around its landmark model, in NumPy (``docs/landmarker.md``).

* ``landmarker_outputs``: the model's outputs (478 points in px256 and a presence score) in
  the shape every pipeline shares (``ModelOutputs``): the mesh is the first 468 points, the
  lips, eyes and irises are the same points picked by MediaPipe's region index lists (this
  model has no region heads), and there are no region transforms (NaN, so
  ``postprocess.project`` gives those regions no affine).
* ``roi_from_detection``: the ROI FaceLandmarker's detector graph makes of a detection: the
  box rotated by the eye keypoints and scaled by 1.5 about its centre, **not** squared.
* ``associate_detections``: video mode's merge of this frame's detection ROIs with the
  tracked ones: where they overlap (IoU > 0.5) the new detection replaces the tracked ROI.
* ``z_stretch``: z's extra scale on a rotated ROI in a non-square image (FaceLandmarker scales
  z by the length of the ROI's width vector in normalised image units).

The next frame's ROI from landmarks (bounding box of all 478, rotated by 33 -> 263, squared on
its longer side, x1.5) is FaceMesh's, ``roi.roi_from_landmarks``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from service.contract import (
    DETECTION_EYES,
    LANDMARKER_DETECTION_ROI_SCALE,
    LANDMARKER_DETECTION_ROI_SQUARE,
    LANDMARKER_MIN_TRACKING,
    LEFT_EYE,
    LEFT_IRIS,
    LIPS,
    NUM_MESH,
    REGION_ORDER,
    RIGHT_EYE,
    RIGHT_IRIS,
    ModelOutputs,
)
from service.processing.detection import Detection
from service.processing.roi import normalized_iou, rotation_from
from service.processing.warp import RotatedRect

_REGION_POINTS: dict[str, tuple[int, ...]] = {
    "lips": LIPS,
    "left_eye": LEFT_EYE,
    "right_eye": RIGHT_EYE,
    "left_iris": LEFT_IRIS,
    "right_iris": RIGHT_IRIS,
}


def landmarker_outputs(named: Mapping[str, np.ndarray]) -> ModelOutputs:
    """The landmark model's ``landmarks`` [N, 478, 3] and ``face_score`` [N] (px of its input)
    as ``ModelOutputs`` in the same units."""
    landmarks = np.asarray(named["landmarks"], dtype=np.float32)
    count = landmarks.shape[0]
    regions = {name: landmarks[:, list(points), :2] for name, points in _REGION_POINTS.items()}
    return ModelOutputs(
        landmarks=landmarks,
        mesh=landmarks[:, :NUM_MESH],
        region_transforms=np.full((count, len(REGION_ORDER), 4, 4), np.nan, dtype=np.float32),
        face_score=np.asarray(named["face_score"], dtype=np.float32).reshape(count),
        **regions,
    )


def roi_from_detection(detection: Detection) -> RotatedRect:
    """FaceLandmarker's ROI for one detection (frame pixels)."""
    xmin, ymin, width, height = (float(v) for v in detection.box)
    if LANDMARKER_DETECTION_ROI_SQUARE:
        width = height = max(width, height)
    eyes = detection.keypoints
    rotation = rotation_from(eyes[DETECTION_EYES[0]], eyes[DETECTION_EYES[1]])
    scale = LANDMARKER_DETECTION_ROI_SCALE
    return RotatedRect(
        xmin + float(detection.box[2]) / 2.0,
        ymin + float(detection.box[3]) / 2.0,
        width * scale,
        height * scale,
        rotation,
    )


def associate_detections(
    tracked: Sequence[RotatedRect], detected: Sequence[RotatedRect], width: int, height: int
) -> list[tuple[int | None, int | None]]:
    """Video mode's merge: the tracked ROIs, then each detection ROI, which drops every kept
    ROI it overlaps by IoU > ``LANDMARKER_MIN_TRACKING`` (frame-normalised, unrotated boxes).
    Returns, in order, (tracked index, detection index) pairs: (i, None) a tracked ROI kept,
    (i, j) detection j replacing tracked ROI i (the first it overlapped: the same face),
    (None, j) a new face."""
    kept: list[tuple[RotatedRect, int | None, int | None]] = [
        (rect, i, None) for i, rect in enumerate(tracked)
    ]
    for j, rect in enumerate(detected):
        overlapped = [
            item
            for item in kept
            if normalized_iou(rect, item[0], width, height) > LANDMARKER_MIN_TRACKING
        ]
        kept = [item for item in kept if item not in overlapped]
        replaced = next((item[1] for item in overlapped if item[1] is not None), None)
        kept.append((rect, replaced, j))
    return [(i, j) for _, i, j in kept]


def z_stretch(rect: RotatedRect, width: int, height: int) -> float:
    """FaceLandmarker's z scale over the ROI's pixel width: sqrt(cos^2 r + (W/H)^2 sin^2 r)
    for ROI rotation r in a ``width`` x ``height`` image (1 for an upright ROI)."""
    return math.hypot(math.cos(rect.rotation), width / height * math.sin(rect.rotation))
