"""Detector post-processing: anchors, decoding, weighted NMS, letterbox and projection."""

from __future__ import annotations

import numpy as np
import pytest

from service.contract import SHORT_RANGE
from service.processing.detection import (
    decode_boxes,
    letterbox,
    letterbox_rect,
    postprocess_detections,
    ssd_anchors,
    turned_letterboxes,
    unturn_normalized,
    weighted_nms,
)

DETECTOR_INPUT_SIZE = SHORT_RANGE.input_size
NUM_BOXES = SHORT_RANGE.num_boxes


def test_anchors_follow_the_short_range_layout() -> None:
    anchors = ssd_anchors()
    assert anchors.shape == (NUM_BOXES, 2)
    # Stride 8: 16x16 cells, 2 anchors each; stride 16 (three merged layers): 8x8 cells, 6 each.
    np.testing.assert_allclose(anchors[0], [0.5 / 16, 0.5 / 16])
    np.testing.assert_allclose(anchors[1], anchors[0])
    np.testing.assert_allclose(anchors[2], [1.5 / 16, 0.5 / 16])
    np.testing.assert_allclose(anchors[511], [15.5 / 16, 15.5 / 16])
    np.testing.assert_allclose(anchors[512:518], np.tile([0.5 / 8, 0.5 / 8], (6, 1)))
    np.testing.assert_allclose(anchors[518], [1.5 / 8, 0.5 / 8])
    np.testing.assert_allclose(anchors[-1], [7.5 / 8, 7.5 / 8])


def _raw(entries: dict[int, tuple[list[float], float]]) -> tuple[np.ndarray, np.ndarray]:
    regressors = np.zeros((NUM_BOXES, 16), dtype=np.float32)
    logits = np.full((NUM_BOXES, 1), -10.0, dtype=np.float32)
    for index, (values, logit) in entries.items():
        regressors[index, : len(values)] = values
        logits[index, 0] = logit
    return regressors, logits


def test_decode_scales_by_128_and_offsets_by_the_anchor() -> None:
    # x, y, w, h then keypoint 0 (x, y): all in 128-px units relative to the anchor centre.
    regressors, logits = _raw({600: ([12.8, -6.4, 32.0, 64.0, 6.4, 0.0], 2.0)})
    boxes, keypoints, scores = decode_boxes(regressors, logits)
    anchor = ssd_anchors()[600]
    centre = anchor + np.array([0.1, -0.05])
    half = np.array([0.125, 0.25])
    np.testing.assert_allclose(boxes[0], np.concatenate([centre - half, centre + half]))
    np.testing.assert_allclose(keypoints[0, 0], anchor + np.array([0.05, 0.0]), rtol=1e-6)
    np.testing.assert_allclose(keypoints[0, 1], anchor, rtol=1e-6)
    np.testing.assert_allclose(scores, [1 / (1 + np.exp(-2.0))], rtol=1e-6)


def test_decode_drops_low_scores_and_negative_sizes() -> None:
    regressors, logits = _raw(
        {
            10: ([0, 0, 10, 10], 0.0),  # sigmoid(0) = 0.5: kept (score >= threshold)
            11: ([0, 0, 10, 10], -0.01),  # just below 0.5: dropped
            12: ([0, 0, -1, 10], 5.0),  # negative width: dropped
            13: ([0, 0, 10, 10], 1e6),  # clipped to 100 before the sigmoid: finite score 1
        }
    )
    _, _, scores = decode_boxes(regressors, logits)
    np.testing.assert_allclose(scores, [0.5, 1.0])


def test_weighted_nms_blends_each_cluster_by_score() -> None:
    boxes = np.array([[0.0, 0.0, 1.0, 1.0], [0.1, 0.0, 1.1, 1.0], [5.0, 5.0, 6.0, 6.0]])
    keypoints = np.array([[[0.0, 0.0]], [[1.0, 1.0]], [[5.0, 5.0]]])
    scores = np.array([0.6, 0.9, 0.7])
    out_boxes, out_keypoints, out_scores = weighted_nms(boxes, keypoints, scores)
    # Best first; the first two overlap (IoU 0.82 > 0.3) and are blended; score stays the top.
    np.testing.assert_allclose(out_scores, [0.9, 0.7])
    w = np.array([0.9, 0.6]) / 1.5
    np.testing.assert_allclose(out_boxes[0], w[0] * boxes[1] + w[1] * boxes[0])
    np.testing.assert_allclose(out_keypoints[0], [[w[0], w[0]]])
    np.testing.assert_allclose(out_boxes[1], boxes[2])


def test_weighted_nms_keeps_boxes_that_overlap_at_most_the_threshold() -> None:
    # IoU of these two is exactly 1/3 > 0.3: merged; shift one further: IoU 0.25, both kept.
    a = [0.0, 0.0, 2.0, 1.0]
    merged = weighted_nms(
        np.array([a, [1.0, 0.0, 3.0, 1.0]]), np.zeros((2, 1, 2)), np.array([1.0, 1.0])
    )
    assert len(merged[2]) == 1
    kept = weighted_nms(
        np.array([a, [1.2, 0.0, 3.2, 1.0]]), np.zeros((2, 1, 2)), np.array([0.9, 0.8])
    )
    assert len(kept[2]) == 2


@pytest.mark.parametrize(("width", "height"), [(200, 100), (100, 200), (128, 128)])
def test_letterbox_pads_to_a_centred_square_with_zeros(width: int, height: int) -> None:
    image = np.full((height, width, 3), 200, dtype=np.uint8)
    tensor = letterbox(image)
    assert tensor.shape == (DETECTOR_INPUT_SIZE, DETECTOR_INPUT_SIZE, 3)
    side = max(width, height)
    pad_rows = round((side - height) / 2 / side * DETECTOR_INPUT_SIZE)
    pad_cols = round((side - width) / 2 / side * DETECTOR_INPUT_SIZE)
    centre = tensor[pad_rows + 2 : 126 - pad_rows, pad_cols + 2 : 126 - pad_cols]
    assert (centre == 200).all()
    if pad_rows:
        assert (tensor[: pad_rows - 1] == 0).all() and (tensor[-pad_rows + 1 :] == 0).all()
    if pad_cols:
        assert (tensor[:, : pad_cols - 1] == 0).all()
    rect = letterbox_rect(width, height)
    assert (rect.width, rect.height) == (side, side)


def test_postprocess_projects_the_letterbox_back_to_frame_pixels() -> None:
    # A box covering the whole 128x128 input of a 400x200 frame covers the padded square.
    index = 512 + 6 * (3 * 8 + 3) + 0  # anchor centre (3.5/8, 3.5/8)
    anchor = ssd_anchors()[index]
    offset = (0.5 - anchor) * 128
    regressors, logits = _raw({index: ([*offset, 128.0, 64.0, *offset], 3.0)})
    (detection,) = postprocess_detections(regressors, logits, 400, 200)
    # Square side 400 centred on (200, 100): box x 0..400, y 100 -/+ 100 -> 0..200.
    np.testing.assert_allclose(detection.box, [0.0, 0.0, 400.0, 200.0], atol=1e-3)
    np.testing.assert_allclose(detection.keypoints[0], [200.0, 100.0], atol=1e-3)


@pytest.mark.parametrize(("width", "height"), [(200, 100), (90, 160), (128, 128)])
def test_turned_letterboxes_are_the_letterboxes_of_the_turned_frame(
    width: int, height: int
) -> None:
    """What the detector would see on the turned frame, pixel for pixel, without turning it."""
    image = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    turned = turned_letterboxes(image)
    assert turned.shape == (3, DETECTOR_INPUT_SIZE, DETECTOR_INPUT_SIZE, 3)
    for k in (1, 2, 3):
        want = letterbox(np.ascontiguousarray(np.rot90(image, k)))
        np.testing.assert_array_equal(turned[k - 1], want, err_msg=str(k))


def test_unturn_normalized_inverts_np_rot90() -> None:
    # A pixel's centre in a 4x4 image, followed through np.rot90 and back.
    image = np.zeros((4, 4), dtype=np.uint8)
    image[1, 3] = 1  # row 1, column 3: centre (3.5, 1.5) / 4
    centre = np.array([3.5, 1.5]) / 4
    for k in range(4):
        row, col = np.argwhere(np.rot90(image, k))[0]
        turned = np.array([col + 0.5, row + 0.5]) / 4
        np.testing.assert_allclose(unturn_normalized(turned, k), centre)


def test_postprocess_maps_a_turned_detection_back_to_the_frame() -> None:
    """A box found on the half-turned input of a 400x200 frame: mapped back through the
    turn, then out of the letterbox; eye keypoints swap sides (the face is upside down)."""
    index = 512 + 6 * (3 * 8 + 3)  # anchor centre (3.5/8, 3.5/8)
    anchor = ssd_anchors()[index]
    # Box centre (0.25, 0.5) of the turned input, 0.25 x 0.125; eyes left then right.
    offset = (np.array([0.25, 0.5]) - anchor) * 128
    eyes = (np.array([[0.2, 0.5], [0.3, 0.5]]) - anchor) * 128
    values = [*offset, 32.0, 16.0, *eyes.ravel()]
    regressors, logits = _raw({index: (values, 3.0)})
    (upright,) = postprocess_detections(regressors, logits, 400, 200)
    (found,) = postprocess_detections(regressors, logits, 400, 200, quarter_turns=2)
    assert upright.quarter_turns == 0 and found.quarter_turns == 2
    # Turned back: centre (0.75, 0.5) of the square; side 400 on a frame 200 high.
    np.testing.assert_allclose(found.box, [300 - 50, 100 - 25, 100, 50], atol=1e-3)
    np.testing.assert_allclose(found.keypoints[:2], [[320, 100], [280, 100]], atol=1e-3)
    (quarter,) = postprocess_detections(regressors, logits, 400, 200, quarter_turns=1)
    # One quarter turn: (x', y') -> (1 - y', x'): centre (0.5, 0.25) of the square, i.e.
    # (200, 0) in the frame; width and height swap.
    np.testing.assert_allclose(quarter.box, [200 - 25, 0 - 50, 50, 100], atol=1e-3)
