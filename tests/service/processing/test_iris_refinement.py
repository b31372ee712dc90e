"""The cascade's NumPy steps on synthetic inputs: eye ROIs, crops, mirror, projection, merge."""

from __future__ import annotations

import numpy as np
import pytest

from service import contract
from service.processing import iris_refinement
from service.processing.postprocess import unit_square_to_px192

Corner = tuple[float, float]


def mesh_with_corners(left: tuple[Corner, Corner], right: tuple[Corner, Corner]) -> np.ndarray:
    """float64 [1, 468, 3] zeros with the four eye-corner points set."""
    mesh = np.zeros((1, contract.NUM_MESH, 3))
    corners = (*contract.LEFT_EYE_CORNERS, *contract.RIGHT_EYE_CORNERS)
    for index, point in zip(corners, (*left, *right), strict=True):
        mesh[0, index, :2] = point
    return mesh


def test_eye_roi_is_mediapipes_rect() -> None:
    # left eye level, 20 px wide; right eye tilted 30 degrees, 20 px corner distance
    angle = np.deg2rad(30.0)
    end = (120.0 + 20 * np.cos(angle), 80.0 + 20 * np.sin(angle))
    rois = iris_refinement.eye_rois(
        mesh_with_corners(((50.0, 80.0), (70.0, 80.0)), ((120.0, 80.0), end))
    )
    np.testing.assert_allclose(rois.centre[0, 0], (60.0, 80.0))
    np.testing.assert_allclose(rois.side[0, 0], 2.3 * 20.0)
    np.testing.assert_allclose(rois.rotation[0, 0], 0.0)
    np.testing.assert_allclose(rois.centre[0, 1], ((120.0 + end[0]) / 2, (80.0 + end[1]) / 2))
    # square_long of the corners' box, not the corner distance: a tilted eye gets a smaller ROI
    np.testing.assert_allclose(rois.side[0, 1], 2.3 * 20.0 * np.cos(angle))
    np.testing.assert_allclose(rois.rotation[0, 1], angle)


def test_unit_square_corners_land_on_the_rotated_roi() -> None:
    rois = iris_refinement.EyeRois(
        centre=np.array([[[100.0, 50.0], [40.0, 60.0]]]),
        side=np.array([[20.0, 10.0]]),
        rotation=np.array([[np.pi / 2, 0.0]]),
    )
    unit = rois.unit_to_px192()
    corner = unit[0, 0] @ np.array([0.0, 0.0, 1.0])  # u=v=0: rotated by 90 degrees
    np.testing.assert_allclose(corner, (100.0 + 10.0, 50.0 - 10.0), atol=1e-9)
    crop = rois.crop_to_px192()
    # right eye: crop column 0 (left edge) is the ROI's right edge (mirrored)
    np.testing.assert_allclose(crop[0, 1] @ np.array([0.0, 32.0, 1.0]), (45.0, 60.0))
    np.testing.assert_allclose(crop[0, 0] @ np.array([32.0, 32.0, 1.0]), (100.0, 50.0))


def test_axis_aligned_crop_resamples_pixels_and_mirrors_the_right_eye() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (1, 192, 192, 3), dtype=np.uint8)
    # 64 px ROIs at integer offsets: the crop is the pixels themselves (1:1 resampling)
    rois = iris_refinement.EyeRois(
        centre=np.array([[[64.0, 64.0], [128.0, 100.0]]]),
        side=np.array([[64.0, 64.0]]),
        rotation=np.zeros((1, 2)),
    )
    crops = iris_refinement.crop_eyes(image, rois)
    assert crops.shape == (2, 64, 64, 3) and crops.dtype == np.uint8
    np.testing.assert_array_equal(crops[0], image[0, 32:96, 32:96])
    np.testing.assert_array_equal(crops[1], image[0, 68:132, 96:160][:, ::-1])


def test_crop_replicates_the_border() -> None:
    image = np.zeros((1, 192, 192, 3), dtype=np.uint8)
    image[0, :, 0] = 200  # left column
    rois = iris_refinement.EyeRois(
        centre=np.array([[[0.0, 96.0], [96.0, 96.0]]]),
        side=np.array([[64.0, 64.0]]),
        rotation=np.zeros((1, 2)),
    )
    crops = iris_refinement.crop_eyes(image, rois)
    assert (crops[0, :, :32] == 200).all()  # outside the image: the edge column repeated


def test_projection_undoes_the_mirror_and_scales_z() -> None:
    rois = iris_refinement.EyeRois(
        centre=np.array([[[60.0, 80.0], [130.0, 80.0]]]),
        side=np.array([[32.0, 32.0]]),
        rotation=np.zeros((1, 2)),
    )
    # model output: point at crop (16, 32) with z = 8 for both eyes
    raw = np.tile(np.array([16.0, 32.0, 8.0]), (1, 2, 1, 1))
    projected = iris_refinement.project_eye_points(raw, rois)
    np.testing.assert_allclose(projected[0, 0, 0], (60.0 - 8.0, 80.0, 4.0))
    np.testing.assert_allclose(projected[0, 1, 0], (130.0 + 8.0, 80.0, 4.0))  # mirrored back


def test_merge_overwrites_xyz_at_the_eye_indices_and_appends_irises() -> None:
    mesh = np.arange(2 * 468 * 3, dtype=np.float32).reshape(2, 468, 3)
    eyes = -np.ones((2, 2, 71, 3))
    eyes[:, 1] = -2.0
    irises = np.stack([np.full((2, 5, 3), 7.0), np.full((2, 5, 3), 9.0)], axis=1)
    merged = iris_refinement.merge_landmarks(mesh, eyes, irises)
    assert merged.shape == (2, 478, 3)
    assert (merged[:, list(contract.LEFT_EYE)] == -1.0).all()
    assert (merged[:, list(contract.RIGHT_EYE)] == -2.0).all()
    assert (merged[:, 468:473] == 7.0).all() and (merged[:, 473:] == 9.0).all()
    untouched = sorted(set(range(468)) - set(contract.LEFT_EYE + contract.RIGHT_EYE))
    np.testing.assert_array_equal(merged[:, untouched], mesh[:, untouched])


def test_eye_index_lists() -> None:
    assert len(contract.LEFT_EYE) == len(set(contract.LEFT_EYE)) == 71
    assert len(contract.RIGHT_EYE) == len(set(contract.RIGHT_EYE)) == 71
    assert not set(contract.LEFT_EYE) & set(contract.RIGHT_EYE)
    assert len(contract.LIPS) == len(set(contract.LIPS)) == 80
    assert contract.LEFT_EYE[0] == 33 and contract.RIGHT_EYE[0] == 263


def test_region_box_upright_and_rotated() -> None:
    points = np.array([[[10.0, 20.0], [30.0, 20.0], [20.0, 25.0], [20.0, 15.0]]])
    box = iris_refinement.region_box(points, 0, 1, 1.5)
    np.testing.assert_allclose(box[0] @ [0.5, 0.5, 1.0], (20.0, 20.0))
    np.testing.assert_allclose(box[0, :, :2], np.diag([30.0, 15.0]))
    turn = np.array([[0.0, -1.0], [1.0, 0.0]])  # +90 degrees
    rotated = iris_refinement.region_box(points @ turn.T, 0, 1, 1.5)
    np.testing.assert_allclose(rotated[0, :, :2], turn @ np.diag([30.0, 15.0]), atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1])
def test_region_transform_round_trips_through_postprocess(seed: int) -> None:
    affine = np.random.default_rng(seed).normal(size=(3, 2, 3)) * 50
    matrices = iris_refinement.unit_affine_to_region_transform(affine)
    np.testing.assert_allclose(unit_square_to_px192(matrices)[:, :2], affine, rtol=1e-5, atol=1e-4)
