"""Rotated crops: OpenCV corner mapping, border modes, and the crop-to-frame affine."""

from __future__ import annotations

import math

import numpy as np
import pytest

from service.processing.warp import RotatedRect, crop_to_frame, warp_matrix, warp_rect


@pytest.mark.parametrize("rotation", [0.0, 0.3, -1.2, math.pi])
def test_crop_to_frame_inverts_the_warp(rotation: float) -> None:
    rect = RotatedRect(120.0, 80.0, 90.0, 60.0, rotation)
    forward = warp_matrix(rect, 192, 128)
    back = crop_to_frame(rect, 192, 128)
    np.testing.assert_allclose(forward @ back, np.eye(3), atol=1e-4)  # float32 OpenCV


def test_axis_aligned_crop_samples_the_rectangle() -> None:
    image = np.zeros((100, 100, 3), dtype=np.uint8)
    image[20:60, 30:70] = 255
    crop = warp_rect(image, RotatedRect(50.0, 40.0, 40.0, 40.0), 40, 40, "zero")
    assert crop[2:-2, 2:-2].min() == 255


def test_rotation_by_90_degrees_turns_the_content() -> None:
    # Brightness grows with frame x. A ROI rotated by +90 degrees (clockwise) maps crop +x to
    # frame +y and crop +y to frame -x: in the crop, brightness falls down the rows.
    image = np.repeat((np.arange(64) * 4).astype(np.uint8)[None, :, None], 64, axis=0)
    image = np.repeat(image, 3, axis=2)
    turned = warp_rect(image, RotatedRect(32.0, 32.0, 64.0, 64.0, math.pi / 2), 64, 64, "replicate")
    column = turned[4:60, 20, 0].astype(int)
    assert (np.diff(column) < 0).all()
    assert np.ptp(turned[30, 4:60, 0].astype(int)) <= 1


def test_border_modes() -> None:
    image = np.full((10, 10, 3), 100, dtype=np.uint8)
    rect = RotatedRect(5.0, 5.0, 30.0, 30.0)
    assert warp_rect(image, rect, 30, 30, "zero")[0, 0].tolist() == [0, 0, 0]
    assert warp_rect(image, rect, 30, 30, "replicate")[0, 0].tolist() == [100, 100, 100]
