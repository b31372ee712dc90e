"""preprocess: 192x192 pass-through, resize/pad geometry and the transform back."""

from __future__ import annotations

import numpy as np
import pytest

from service.processing.preprocess import CropTransform, preprocess
from tests.service.imagekit import crop_array


def test_192_crop_is_passed_through_unchanged() -> None:
    rgb = crop_array("lenna_face0")
    out, transform = preprocess(rgb)
    np.testing.assert_array_equal(out, rgb)
    assert transform == CropTransform(192, 192, 1.0, 1.0, 0.0, 0.0)


def test_square_downscale_is_area_average() -> None:
    rgb = crop_array("lenna_face0")
    doubled = np.repeat(np.repeat(rgb, 2, axis=0), 2, axis=1)  # 384x384, nearest
    out, transform = preprocess(doubled)
    np.testing.assert_array_equal(out, rgb)  # BOX of exact 2x2 blocks restores the source
    assert (transform.scale_x, transform.scale_y) == (2.0, 2.0)
    assert (transform.offset_x, transform.offset_y) == (0.0, 0.0)


def _marker_image(width: int, height: int, x: int, y: int) -> np.ndarray:
    image = np.zeros((height, width, 3), dtype=np.uint8)
    image[y, x] = 255
    return image


def _centroid(image: np.ndarray) -> tuple[float, float]:
    weight = image[:, :, 0].astype(np.float64)
    ys, xs = np.indices(weight.shape)
    total = weight.sum()
    # +0.5: pixel centres in the pixel-edge convention.
    return float((xs * weight).sum() / total + 0.5), float((ys * weight).sum() / total + 0.5)


@pytest.mark.parametrize(
    ("width", "height", "x", "y"),
    [(384, 192, 100, 50), (150, 400, 30, 300), (96, 96, 10, 80), (640, 480, 600, 20)],
)
def test_points_map_back_to_posted_pixels(width: int, height: int, x: int, y: int) -> None:
    out, transform = preprocess(_marker_image(width, height, x, y))
    assert out.shape == (192, 192, 3)
    assert out.dtype == np.uint8
    cx, cy = _centroid(out)
    back = transform.matrix() @ np.array([cx, cy, 1.0])
    # The marker's centre is (x + 0.5, y + 0.5); resampling blurs it by under a source pixel.
    tolerance = max(transform.scale_x, transform.scale_y, 1.0)
    assert abs(back[0] - (x + 0.5)) <= tolerance
    assert abs(back[1] - (y + 0.5)) <= tolerance


def test_non_square_is_centred_and_edge_padded() -> None:
    image = np.zeros((100, 200, 3), dtype=np.uint8)
    image[0, :] = 200  # top row bright: padding above replicates it
    image[-1, :] = 50  # bottom row: padding below replicates it
    out, transform = preprocess(image)
    assert transform.offset_x == 0.0
    assert transform.offset_y == 48.0  # 192x96 content centred in 192 rows
    assert (transform.scale_x, transform.scale_y) == (200 / 192, 100 / 96)
    assert (out[:48] == out[48]).all()
    assert (out[144:] == out[143]).all()
    assert out[0, 0, 0] > 100 > out[-1, 0, 0]


def test_transform_matrix_matches_formula() -> None:
    transform = CropTransform(300, 200, 1.5, 1.5, 0.0, 32.0)
    x, y = 96.0, 100.0
    mapped = transform.matrix() @ np.array([x, y, 1.0])
    np.testing.assert_allclose(mapped[:2], [(x - 0.0) * 1.5, (y - 32.0) * 1.5])


def test_rejects_non_rgb_arrays() -> None:
    with pytest.raises(ValueError, match="uint8"):
        preprocess(np.zeros((192, 192), dtype=np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        preprocess(np.zeros((192, 192, 3), dtype=np.float32))
