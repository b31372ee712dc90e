"""The blendshape model's input from landmarks (``service/processing/blendshapes.py``)."""

from __future__ import annotations

import numpy as np
import pytest

from service.contract import BLENDSHAPE_LANDMARKS, NUM_LANDMARKS
from service.processing.blendshapes import blendshape_points


def test_points_are_the_146_landmarks_x_and_y_in_image_pixels() -> None:
    landmarks = np.arange(NUM_LANDMARKS * 3, dtype=np.float64).reshape(NUM_LANDMARKS, 3)
    points = blendshape_points([landmarks, landmarks + 1])
    assert points.shape == (2, 146, 2) and points.dtype == np.float32
    np.testing.assert_array_equal(points[0], landmarks[list(BLENDSHAPE_LANDMARKS), :2])
    np.testing.assert_array_equal(points[1], landmarks[list(BLENDSHAPE_LANDMARKS), :2] + 1)
    assert blendshape_points([]).shape == (0, 146, 2)


def test_a_468_point_mesh_is_refused() -> None:
    with pytest.raises(ValueError, match="478"):
        blendshape_points([np.zeros((468, 3))])
