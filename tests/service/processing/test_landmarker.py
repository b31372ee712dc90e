"""FaceLandmarker's ROI, association and z rules (``service/processing/landmarker.py``) on
hand-made detections and ROIs, and its outputs in the shared ``ModelOutputs`` shape."""

from __future__ import annotations

import math

import numpy as np

from service.contract import LEFT_EYE, LEFT_IRIS, LIPS, NUM_LANDMARKS, RIGHT_IRIS
from service.processing.detection import Detection
from service.processing.landmarker import (
    associate_detections,
    landmarker_outputs,
    roi_from_detection,
    z_stretch,
)
from service.processing.postprocess import project
from service.processing.roi import roi_from_detection as facemesh_roi
from service.processing.warp import RotatedRect


def _detection(box: tuple[float, float, float, float], eyes_dy: float = 0.0) -> Detection:
    xmin, ymin, width, height = box
    keypoints = np.zeros((6, 2))
    keypoints[0] = (xmin + 0.3 * width, ymin + 0.4 * height)
    keypoints[1] = (xmin + 0.7 * width, ymin + 0.4 * height + eyes_dy)
    return Detection(np.array(box, dtype=np.float64), keypoints, 0.9)


def test_the_detection_roi_is_scaled_but_not_squared() -> None:
    detection = _detection((100.0, 50.0, 80.0, 60.0))
    roi = roi_from_detection(detection)
    assert (roi.center_x, roi.center_y) == (140.0, 80.0)
    assert (roi.width, roi.height) == (120.0, 90.0)  # x1.5, the box's own ratio
    assert roi.rotation == 0.0
    squared = facemesh_roi(detection)  # FaceMesh's rule squares it
    assert squared.width == squared.height == 120.0


def test_the_detection_roi_turns_with_the_eyes() -> None:
    roi = roi_from_detection(_detection((0.0, 0.0, 100.0, 100.0), eyes_dy=40.0))
    assert math.isclose(roi.rotation, math.atan2(40.0, 40.0))


def test_a_detection_replaces_the_tracked_roi_it_overlaps() -> None:
    tracked = [RotatedRect(100, 100, 80, 80), RotatedRect(300, 100, 80, 80)]
    moved = RotatedRect(305, 102, 80, 80)  # IoU with the second > 0.5
    new = RotatedRect(500, 300, 60, 60)  # overlaps nothing
    merged = associate_detections(tracked, [moved, new], 640, 480)
    # The first tracked ROI kept, the second replaced by the detection (same face), a new face.
    assert merged == [(0, None), (1, 0), (None, 1)]


def test_a_detection_overlapping_little_does_not_replace() -> None:
    tracked = [RotatedRect(100, 100, 80, 80)]
    nearby = RotatedRect(160, 100, 80, 80)  # IoU 0.2
    assert associate_detections(tracked, [nearby], 640, 480) == [(0, None), (None, 0)]


def test_z_stretch_is_one_upright_or_on_a_square_image() -> None:
    assert z_stretch(RotatedRect(0, 0, 10, 10, 0.0), 640, 480) == 1.0
    assert math.isclose(z_stretch(RotatedRect(0, 0, 10, 10, 0.7), 500, 500), 1.0)
    # Turned by 90 degrees in a 4:3 image: the width vector runs along y, 4/3 longer in
    # normalised units.
    assert math.isclose(z_stretch(RotatedRect(0, 0, 10, 10, math.pi / 2), 640, 480), 4 / 3)


def test_outputs_take_the_regions_from_the_landmarks_and_have_no_affines() -> None:
    rng = np.random.default_rng(0)
    landmarks = rng.uniform(0, 256, (2, NUM_LANDMARKS, 3)).astype(np.float32)
    outputs = landmarker_outputs({"landmarks": landmarks, "face_score": np.array([0.9, 0.2])})
    np.testing.assert_array_equal(outputs.lips, landmarks[:, list(LIPS), :2])
    np.testing.assert_array_equal(outputs.left_eye, landmarks[:, list(LEFT_EYE), :2])
    np.testing.assert_array_equal(outputs.right_iris, landmarks[:, list(RIGHT_IRIS), :2])
    np.testing.assert_array_equal(outputs.mesh, landmarks[:, :468])
    scale = np.diag([2.0, 2.0, 1.0])
    face, below = project(outputs, np.stack([scale, scale]), [(512, 512)] * 2, 0.5)
    assert below.landmarks is None
    assert face.regions is not None and face.landmarks is not None
    assert all(face.regions[name].affine is None for name in ("lips", "left_eye", "right_eye"))
    np.testing.assert_allclose(
        face.regions["left_iris"].landmarks, face.landmarks[list(LEFT_IRIS), :2]
    )
