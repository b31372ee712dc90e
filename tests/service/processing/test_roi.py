"""ROIs from detections and landmarks, association, and projection onto the frame."""

from __future__ import annotations

import math

import numpy as np

from service.contract import MODEL_OUTPUTS, ModelOutputs
from service.processing.detection import Detection
from service.processing.postprocess import project, unit_square_to_px192
from service.processing.roi import (
    associate,
    normalize_radians,
    roi_from_detection,
    roi_from_landmarks,
    roi_to_frame,
    rotation_from,
)
from service.processing.warp import RotatedRect


def test_rotation_sign_and_wrapping() -> None:
    assert rotation_from(np.array([0.0, 0.0]), np.array([1.0, 0.0])) == 0.0
    # Right eye lower on screen (y down) -> the face is turned clockwise -> positive rotation.
    assert math.isclose(rotation_from(np.array([0.0, 0.0]), np.array([0.0, 1.0])), math.pi / 2)
    assert math.isclose(normalize_radians(3 * math.pi / 2), -math.pi / 2)
    assert -math.pi <= normalize_radians(math.pi) < math.pi


def test_roi_from_detection_is_square_long_times_1_5() -> None:
    keypoints = np.zeros((6, 2))
    keypoints[0], keypoints[1] = [40.0, 50.0], [60.0, 50.0]
    detection = Detection(np.array([30.0, 40.0, 40.0, 20.0]), keypoints, 0.9)
    roi = roi_from_detection(detection)
    assert (roi.center_x, roi.center_y) == (50.0, 50.0)
    assert roi.width == roi.height == 60.0
    assert roi.rotation == 0.0


def test_roi_from_landmarks_uses_the_box_and_eye_corners() -> None:
    points = np.zeros((478, 3))
    points[:, 0] = np.linspace(10, 110, 478)
    points[:, 1] = np.linspace(20, 70, 478)
    points[33, :2], points[263, :2] = [30.0, 40.0], [90.0, 40.0]
    roi = roi_from_landmarks(points)
    assert (roi.center_x, roi.center_y) == (60.0, 45.0)
    assert roi.width == roi.height == 150.0
    assert roi.rotation == 0.0


def test_association_prefers_later_groups_and_keeps_distinct_rects() -> None:
    a = RotatedRect(50, 50, 40, 40)
    b = RotatedRect(52, 50, 40, 40)  # IoU with a > 0.5
    c = RotatedRect(150, 50, 40, 40)
    kept = associate([[(a, 0), (c, 1)], [(b, 2)]], 200, 100)
    assert [tag for _, tag in kept] == [1, 2]


def test_projection_maps_px192_through_the_rotated_roi() -> None:
    rng = np.random.default_rng(1)
    named = {k: rng.uniform(0, 192, (1, *s)).astype(np.float32) for k, s in MODEL_OUTPUTS.items()}
    named["face_score"] = np.array([0.9], dtype=np.float32)
    transforms = np.zeros((1, 3, 4, 4), dtype=np.float32)
    transforms[:, :, 0, :] = [0.5, 0.0, 0.0, 10.0]
    transforms[:, :, 1, :] = [0.0, 0.5, 0.0, 20.0]
    named["region_transforms"] = transforms
    outputs = ModelOutputs.from_named(named)
    rect = RotatedRect(300.0, 200.0, 96.0, 96.0, math.pi / 2)
    (face,) = project(outputs, roi_to_frame([rect]), [(640, 480)], score_threshold=0.5)
    assert face.landmarks is not None and face.regions is not None
    # Crop centre -> ROI centre; +x in the crop -> +y in the frame (rotated 90 degrees).
    centre = (192 / 2, 192 / 2)
    lm = outputs.landmarks[0].astype(np.float64)
    expected_x = 300.0 - (lm[:, 1] - centre[1]) * 0.5
    expected_y = 200.0 + (lm[:, 0] - centre[0]) * 0.5
    np.testing.assert_allclose(face.landmarks[:, 0], expected_x, rtol=1e-6)
    np.testing.assert_allclose(face.landmarks[:, 1], expected_y, rtol=1e-6)
    np.testing.assert_allclose(face.landmarks[:, 2], lm[:, 2] * 0.5, rtol=1e-6)
    # The region affine maps the unit square's corner the same way as a px192 point.
    px = unit_square_to_px192(transforms[0, 0]) @ np.array([1.0, 1.0, 1.0])
    affine = face.regions["lips"].affine
    assert affine is not None
    corner = affine @ np.array([1.0, 1.0, 1.0])
    np.testing.assert_allclose(corner, [300.0 - (px[1] - 96) * 0.5, 200.0 + (px[0] - 96) * 0.5])
