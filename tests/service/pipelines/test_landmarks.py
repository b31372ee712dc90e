"""A frame's ROIs keep their source: the detection behind them or the tracked ROI they are."""

from __future__ import annotations

import numpy as np

from service.pipelines.landmarks import frame_rois
from service.processing.detection import Detection
from service.processing.roi import roi_from_detection
from service.processing.warp import RotatedRect


def _detection(x: float, y: float, size: float, score: float) -> Detection:
    eyes = [[x + size * 0.3, y + size * 0.4], [x + size * 0.7, y + size * 0.4]]
    keypoints = np.array(eyes + [[x + size / 2, y + size * 0.6]] * 4, dtype=np.float64)
    return Detection(np.array([x, y, size, size], dtype=np.float64), keypoints, score)


def test_detections_then_tracked_rois_each_with_its_source() -> None:
    left, right = _detection(100, 100, 80, 0.9), _detection(400, 100, 80, 0.8)
    far = RotatedRect(700.0, 400.0, 120.0, 120.0)
    rois = frame_rois([left, right], [far], 1000, 600, 16)
    assert [each.detection for each in rois] == [left, right, None]
    assert [each.tracked_from for each in rois] == [None, None, 0]
    assert rois[2].roi == far
    assert rois[0].roi == roi_from_detection(left)


def test_a_tracked_roi_wins_over_the_detection_it_overlaps() -> None:
    found = _detection(100, 100, 80, 0.9)
    other = _detection(400, 100, 80, 0.8)
    tracked = [RotatedRect(700.0, 400.0, 120.0, 120.0), roi_from_detection(found)]
    rois = frame_rois([found, other], tracked, 1000, 600, 16)
    assert [(each.detection, each.tracked_from) for each in rois] == [
        (other, None),
        (None, 0),
        (None, 1),
    ]


def test_at_most_max_faces() -> None:
    detections = [_detection(100 + 150 * i, 100, 80, 0.9 - i / 10) for i in range(4)]
    rois = frame_rois(detections, [], 1000, 600, 2)
    assert [each.detection for each in rois] == detections[:2]
