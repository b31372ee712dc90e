"""Face detection post-processing for MediaPipe's face detectors, in NumPy.

Two detectors (``service.contract.DetectorSpec``: input size, anchor layers, box count): the
short-range model (``FaceDetectionShortRangeCpu``, 128x128 input, faces within about 2 m)
and the full-range sparse model (``FaceDetectionFullRangeCpu``, 192x192 input, one 48x48
anchor grid of stride 4, for small faces). Every step follows MediaPipe's graphs (0.10.x);
the full-range one differs only in the input size and anchors (``num_layers: 1``, ``strides: 4``,
``interpolated_scale_aspect_ratio: 0``: one anchor per cell, 2304 in all; scales 192):

1. **Letterbox** (``ImageToTensorCalculator``, ``keep_aspect_ratio: true``,
   ``border_mode: BORDER_ZERO``): the whole frame, padded to a centred square of side
   max(W, H), is warped bilinearly onto 128x128; padding is black (-1 after the model's
   in-graph scaling to [-1, 1]).
2. **Anchors** (``SsdAnchorsCalculator``): 4 layers, strides 8, 16, 16, 16, one aspect ratio
   plus one interpolated scale per layer, ``fixed_anchor_size`` (w = h = 1); layers with the
   same stride share one grid. 16x16x2 + 8x8x6 = 896 anchors, centres ``(x + 0.5) / fw``.
3. **Decoding** (``TensorsToDetectionsCalculator``, ``reverse_output_order``): raw values are
   x, y, w, h then six (x, y) keypoints, all divided by 128 and offset by the anchor centre.
   Score = sigmoid(clip(logit, ±100)); a box is kept when score >= 0.5 and its width and
   height are not negative.
4. **Weighted NMS** (``NonMaxSuppressionCalculator``, ``WEIGHTED``, IoU, threshold 0.3):
   repeatedly take the best remaining detection, gather every remaining one whose IoU with it
   is > 0.3 (itself included), and replace its box and keypoints by the score-weighted mean
   of that cluster; its score stays the best one.
5. **Projection** (``DetectionProjectionCalculator``): letterbox-normalised coordinates back
   to frame pixels.

Beyond MediaPipe (opt-in, ``Settings.detection_rotation_search``): the detector was trained
on upright faces and finds none upside down. ``turned_letterboxes`` gives the detector input
of the frame turned by 90, 180 and 270 degrees (the letterbox of ``np.rot90(frame, k)``,
pixel for pixel), and ``postprocess_detections(...,
quarter_turns=k)`` maps detections found there back to the unturned frame
(``unturn_normalized``); the eye keypoints then give the ROI its rotation, so the landmark
model still sees an upright face cut from the original frame.

Keypoints, in MediaPipe's order: 0 left eye, 1 right eye, 2 nose tip, 3 mouth centre,
4 left eye tragion, 5 right eye tragion ("left"/"right" as MediaPipe names them).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from service.contract import (
    DETECTOR_NUM_COORDS,
    DETECTOR_NUM_KEYPOINTS,
    SHORT_RANGE,
    DetectorSpec,
)
from service.processing.warp import RotatedRect, crop_to_frame, warp_matrix, warp_rect, warp_through

_SCORE_CLIP = 100.0
# The caller's default threshold: the short-range graph's own floor.
MIN_SCORE = SHORT_RANGE.min_score
NMS_IOU_THRESHOLD = 0.3


@dataclass(frozen=True)
class Detection:
    """One face detection in frame pixels.

    box:           float64 [4] xmin, ymin, width, height
    keypoints:     float64 [6, 2] x, y
    score:         detector confidence, sigmoid of the logit (0..1)
    quarter_turns: 0 normally; k = 1..3 when the rotation search found it on the frame turned
                   counter-clockwise by k * 90 degrees (box and keypoints are still in the
                   unturned frame's pixels)
    """

    box: np.ndarray
    keypoints: np.ndarray
    score: float
    quarter_turns: int = 0


@lru_cache(maxsize=4)
def ssd_anchors(spec: DetectorSpec = SHORT_RANGE) -> np.ndarray:
    """float32 [num_boxes, 2] anchor centres (x, y), normalised to the detector's input
    (short range: 896; full range: 2304)."""
    strides = spec.strides
    centres: list[np.ndarray] = []
    layer = 0
    while layer < len(strides):
        stride = strides[layer]
        same = layer
        while same < len(strides) and strides[same] == stride:
            same += 1
        # Each merged layer contributes its aspect ratio (1.0) and, if any, its interpolated
        # scale.
        per_cell = (2 if spec.interpolated_scale else 1) * (same - layer)
        size = int(np.ceil(spec.input_size / stride))
        ys, xs = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
        grid = np.stack([(xs + 0.5) / size, (ys + 0.5) / size], axis=-1).reshape(-1, 2)
        centres.append(np.repeat(grid, per_cell, axis=0))
        layer = same
    return np.concatenate(centres).astype(np.float32)


def letterbox_rect(width: int, height: int) -> RotatedRect:
    """The full frame padded to a centred square (the detector's ROI)."""
    side = float(max(width, height))
    return RotatedRect(width / 2.0, height / 2.0, side, side, 0.0)


def letterbox(image: np.ndarray, size: int = SHORT_RANGE.input_size) -> np.ndarray:
    """uint8 [H, W, 3] frame -> uint8 [size, size, 3] detector input (zero padding)."""
    height, width = image.shape[:2]
    return warp_rect(image, letterbox_rect(width, height), size, size, border="zero")


def _quarter_turn_indices(width: int, height: int) -> np.ndarray:
    """float64 [3, 3]: pixel indices (column, row) of a ``width`` x ``height`` image -> their
    indices in ``np.rot90(image, 1)`` (a counter-clockwise quarter turn)."""
    return np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, width - 1.0], [0.0, 0.0, 1.0]])


def turned_letterboxes(image: np.ndarray, size: int = SHORT_RANGE.input_size) -> np.ndarray:
    """uint8 [H, W, 3] frame -> uint8 [3, size, size, 3]: exactly ``letterbox(np.rot90(image,
    k))`` for k = 1, 2, 3 (counter-clockwise quarter turns), without copying the turned
    frames: the exact index permutation of each turn is folded into the letterbox warp."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"want uint8 [H, W, 3], got {image.dtype} {image.shape}")
    height, width = image.shape[:2]
    to_turned = np.eye(3)
    turned_w, turned_h = width, height
    tensors = []
    for _ in range(3):
        to_turned = _quarter_turn_indices(turned_w, turned_h) @ to_turned
        turned_w, turned_h = turned_h, turned_w
        matrix = warp_matrix(letterbox_rect(turned_w, turned_h), size, size) @ to_turned
        tensors.append(warp_through(image, matrix, size, size, border="zero"))
    return np.ascontiguousarray(np.stack(tensors), dtype=np.uint8)


def unturn_normalized(points: np.ndarray, quarter_turns: int) -> np.ndarray:
    """float [..., 2] (x, y) in the unit square of an input turned counter-clockwise by
    ``quarter_turns`` * 90 degrees -> the same points in the unturned input's unit square.

    ``np.rot90`` by one quarter turn maps (x, y) to (y, 1 - x) (pixel-edge coordinates), so
    undoing it maps (x', y') to (1 - y', x')."""
    out = np.asarray(points, dtype=np.float64)
    for _ in range(quarter_turns % 4):
        out = np.stack([1.0 - out[..., 1], out[..., 0]], axis=-1)
    return out


def decode_boxes(
    regressors: np.ndarray,
    classificators: np.ndarray,
    min_score: float = MIN_SCORE,
    spec: DetectorSpec = SHORT_RANGE,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw outputs of one image -> kept (boxes, keypoints, scores), letterbox-normalised.

    regressors float32 [B, 16], classificators float32 [B, 1] (logits), B = the spec's
    anchors -> boxes float32 [K, 4] (xmin, ymin, xmax, ymax), keypoints float32 [K, 6, 2],
    scores float32 [K], in anchor order. Scores below ``min_score`` or below the spec's own
    floor are dropped.
    """
    count, scale = spec.num_boxes, np.float32(spec.input_size)
    raw = np.asarray(regressors, dtype=np.float32).reshape(count, DETECTOR_NUM_COORDS)
    logits = np.asarray(classificators, dtype=np.float32).reshape(count)
    anchors = ssd_anchors(spec)
    centre = raw[:, 0:2] / scale + anchors
    size = raw[:, 2:4] / scale
    boxes = np.concatenate([centre - size / 2, centre + size / 2], axis=1)
    keypoints = raw[:, 4:].reshape(count, DETECTOR_NUM_KEYPOINTS, 2) / scale
    keypoints = keypoints + anchors[:, None, :]
    clipped = np.clip(logits.astype(np.float64), -_SCORE_CLIP, _SCORE_CLIP)
    scores = (1.0 / (1.0 + np.exp(-clipped))).astype(np.float32)
    threshold = max(min_score, spec.min_score)
    keep = (scores >= threshold) & (size[:, 0] >= 0) & (size[:, 1] >= 0)
    return boxes[keep], keypoints[keep], scores[keep]


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of float [4] ``box`` with float [K, 4] ``boxes`` (xmin, ymin, xmax, ymax)."""
    ix = np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0])
    iy = np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1])
    intersection = np.where((ix > 0) & (iy > 0), ix * iy, 0.0)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = area + areas - intersection
    return np.where(union > 0, intersection / np.where(union > 0, union, 1.0), 0.0)


def weighted_nms(
    boxes: np.ndarray,
    keypoints: np.ndarray,
    scores: np.ndarray,
    iou_threshold: float = NMS_IOU_THRESHOLD,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MediaPipe's WEIGHTED non-max suppression; outputs in decreasing score order.

    boxes float [K, 4] (xmin, ymin, xmax, ymax), keypoints float [K, P, 2], scores float [K]
    -> the same three arrays for the retained (blended) detections.
    """
    order = np.argsort(-scores, kind="stable")
    remaining = order
    out_boxes: list[np.ndarray] = []
    out_keypoints: list[np.ndarray] = []
    out_scores: list[float] = []
    while remaining.size:
        best = remaining[0]
        overlap = _iou(boxes[best].astype(np.float64), boxes[remaining].astype(np.float64))
        cluster = remaining[overlap > iou_threshold]
        if cluster.size:
            weights = scores[cluster].astype(np.float64)
            total = weights.sum()
            out_boxes.append((boxes[cluster] * weights[:, None]).sum(axis=0) / total)
            out_keypoints.append((keypoints[cluster] * weights[:, None, None]).sum(axis=0) / total)
        else:  # a degenerate (zero-area) best box overlaps nothing, not even itself
            out_boxes.append(boxes[best].astype(np.float64))
            out_keypoints.append(keypoints[best].astype(np.float64))
        out_scores.append(float(scores[best]))
        rest = remaining[overlap <= iou_threshold]
        if rest.size == remaining.size:
            break
        remaining = rest
    if not out_scores:
        return np.zeros((0, 4)), np.zeros((0, *keypoints.shape[1:])), np.zeros(0)
    return np.stack(out_boxes), np.stack(out_keypoints), np.asarray(out_scores)


def postprocess_detections(
    regressors: np.ndarray,
    classificators: np.ndarray,
    width: int,
    height: int,
    min_score: float = MIN_SCORE,
    quarter_turns: int = 0,
    spec: DetectorSpec = SHORT_RANGE,
) -> list[Detection]:
    """One image's raw detector outputs -> ``Detection`` list in frame pixels, best first.

    ``quarter_turns`` = k when the outputs are for the letterbox turned counter-clockwise by
    k * 90 degrees (``turned_letterboxes``); results are mapped back to the unturned frame."""
    boxes, keypoints, scores = weighted_nms(
        *decode_boxes(regressors, classificators, min_score, spec)
    )
    if quarter_turns % 4:
        # A quarter turn keeps boxes axis-aligned: turn both corners back, re-order them.
        corners = unturn_normalized(boxes.reshape(-1, 2, 2), quarter_turns)
        boxes = np.concatenate([corners.min(axis=1), corners.max(axis=1)], axis=1)
        keypoints = unturn_normalized(keypoints, quarter_turns)
    to_frame = crop_to_frame(letterbox_rect(width, height), 1, 1)
    linear, offset = to_frame[:2, :2], to_frame[:2, 2]
    detections: list[Detection] = []
    for box, points, score in zip(boxes, keypoints, scores, strict=True):
        # Rotation is 0, so projecting the two corners gives the axis-aligned box.
        top_left = linear @ box[:2] + offset
        bottom_right = linear @ box[2:] + offset
        frame_points = points @ linear.T + offset
        detections.append(
            Detection(
                box=np.concatenate([top_left, bottom_right - top_left]),
                keypoints=frame_points,
                score=float(score),
                quarter_turns=quarter_turns % 4,
            )
        )
    return detections
