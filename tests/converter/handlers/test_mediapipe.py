"""Each MediaPipe custom-op translation against an independent numpy reference of the spec."""

from __future__ import annotations

import math

import numpy as np
import pytest

from converter.errors import UnsupportedOpError
from service import contract
from tests.converter import numpy_reference as ref
from tests.converter.op_harness import run_single_op

RNG = np.random.default_rng(7)


def rotation(angle: float) -> np.ndarray:
    return np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])


def face_like_mesh(angle: float = 0.0, offset: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """A [468, 3] cloud in feature-map units (48x48), rotated about the map centre + shifted."""
    points = RNG.normal(24.0, 7.0, size=(468, 3))
    points[:, :2] = (points[:, :2] - 24.0) @ rotation(angle).T + 24.0 + np.asarray(offset)
    return points.astype(np.float32)


def l2tm_options(
    subset: tuple[int, ...] | list[int],
    left: int,
    right: int,
    target: float = 0.0,
    size: tuple[int, int] = (16, 16),
    scale: tuple[float, float] = (1.5, 1.5),
) -> dict[str, object]:
    return {
        "subset_idxs": list(subset),
        "left_rotation_idx": left,
        "right_rotation_idx": right,
        "target_rotation_radians": target,
        "output_width": size[0],
        "output_height": size[1],
        "scale_x": scale[0],
        "scale_y": scale[1],
    }


def run_l2tm(meshes: np.ndarray, options: dict[str, object]) -> np.ndarray:
    (matrix,) = run_single_op(
        "CUSTOM", "Landmarks2TransformMatrix", 2, [meshes], [(1, 4, 4)], options
    )
    return matrix


def reference_l2tm(mesh: np.ndarray, options: dict[str, object]) -> np.ndarray:
    return ref.landmarks_to_transform_matrix(
        mesh.astype(np.float64),
        list(options["subset_idxs"]),  # type: ignore[call-overload]
        options["left_rotation_idx"],
        options["right_rotation_idx"],  # type: ignore[arg-type]
        options["target_rotation_radians"],
        options["output_width"],  # type: ignore[arg-type]
        options["output_height"],
        options["scale_x"],
        options["scale_y"],  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("case", "mesh", "options"),
    [
        ("lips upright", face_like_mesh(), l2tm_options(contract.LIPS, *contract.LIPS_CORNERS)),
        (
            "left eye rotated 35deg",
            face_like_mesh(math.radians(35)),
            l2tm_options(contract.LEFT_EYE, *contract.LEFT_EYE_CORNERS),
        ),
        (
            "right eye off-centre, rotated -120deg",
            face_like_mesh(math.radians(-120), (15, -9)),
            l2tm_options(contract.RIGHT_EYE, *contract.RIGHT_EYE_CORNERS),
        ),
        (
            "odd subset, target angle, anisotropic grid",
            face_like_mesh(0.4, (-6, 11)),
            l2tm_options([5, 9, 100, 42, 7], 9, 100, target=0.3, size=(12, 20), scale=(1.2, 2.0)),
        ),
    ],
)
def test_landmarks_to_transform_matrix_matches_reference(
    case: str, mesh: np.ndarray, options: dict[str, object]
) -> None:
    got = run_l2tm(mesh[None], options)[0]
    np.testing.assert_allclose(got, reference_l2tm(mesh, options), atol=2e-4, err_msg=case)


def test_landmarks_to_transform_matrix_is_per_item_in_a_batch() -> None:
    meshes = np.stack([face_like_mesh(a, (a * 3, -a)) for a in (0.0, 0.8, -2.5)])
    options = l2tm_options(contract.LEFT_EYE, *contract.LEFT_EYE_CORNERS)
    got = run_l2tm(meshes, options)
    for item, mesh in enumerate(meshes):
        np.testing.assert_allclose(got[item], reference_l2tm(mesh, options), atol=2e-4)


def test_landmarks_to_transform_matrix_coincident_rotation_points_mean_no_rotation() -> None:
    mesh = face_like_mesh()
    mesh[133, :2] = mesh[33, :2]  # atan2(0, 0) = 0 in MediaPipe
    options = l2tm_options(contract.LEFT_EYE, *contract.LEFT_EYE_CORNERS)
    got = run_l2tm(mesh[None], options)[0]
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, reference_l2tm(mesh, options), atol=2e-4)


def crop_matrix(
    centre: tuple[float, float], angle: float, scale: tuple[float, float], size: int = 16
) -> np.ndarray:
    """A 4x4 T mapping the size x size grid onto a rotated crop of the 48x48 map."""
    linear = rotation(angle) @ np.diag(scale)
    matrix = np.eye(4)
    matrix[:2, :2] = linear
    matrix[:2, 3] = np.asarray(centre) - linear @ np.array([size / 2, size / 2])
    return matrix.astype(np.float32)


@pytest.mark.parametrize(
    ("case", "matrix"),
    [
        ("upright centred crop", crop_matrix((24.0, 24.0), 0.0, (1.3, 1.3))),
        ("rotated 50deg", crop_matrix((20.0, 27.5), math.radians(50), (1.1, 0.8))),
        (
            "off-centre, partly outside the map",
            crop_matrix((42.0, 3.0), math.radians(-20), (1.6, 1.6)),
        ),
        ("upscaled, fractional positions", crop_matrix((10.3, 33.7), 2.9, (0.37, 0.52))),
    ],
)
def test_transform_tensor_bilinear_matches_reference(case: str, matrix: np.ndarray) -> None:
    feature = RNG.normal(size=(1, 48, 48, 5)).astype(np.float32)
    (got,) = run_single_op(
        "CUSTOM",
        "TransformTensorBilinear",
        2,
        [feature, matrix[None]],
        [(1, 16, 16, 5)],
        {"output_height": 16, "output_width": 16},
    )
    expected = ref.transform_tensor_bilinear(feature[0].astype(np.float64), matrix, 16, 16)
    np.testing.assert_allclose(got[0], expected, atol=1e-4, err_msg=case)


def test_transform_tensor_bilinear_zeroes_samples_outside_the_map() -> None:
    """MediaPipe writes 0 (no border blending) once a position leaves [0, W-1]."""
    feature = np.ones((1, 48, 48, 3), np.float32)
    # X = 39 + u: columns u <= 8 sample inside (X <= 47 = W - 1), u >= 9 fall outside.
    matrix = crop_matrix((47.0, 24.0), 0.0, (1.0, 1.0))
    (got,) = run_single_op(
        "CUSTOM",
        "TransformTensorBilinear",
        2,
        [feature, matrix[None]],
        [(1, 16, 16, 3)],
        {"output_height": 16, "output_width": 16},
    )
    expected = ref.transform_tensor_bilinear(feature[0].astype(np.float64), matrix, 16, 16)
    np.testing.assert_allclose(got[0], expected, atol=1e-5)
    assert (got[0][:, 9:] == 0).all() and (got[0][:, :9] == 1).all()


def test_transform_tensor_bilinear_batches_items_independently() -> None:
    features = RNG.normal(size=(2, 48, 48, 4)).astype(np.float32)
    matrices = np.stack(
        [crop_matrix((20, 20), 0.3, (1.2, 1.2)), crop_matrix((30, 25), -1.1, (0.9, 1.4))]
    )
    (got,) = run_single_op(
        "CUSTOM",
        "TransformTensorBilinear",
        2,
        [features, matrices],
        [(1, 16, 16, 4)],
        {"output_height": 16, "output_width": 16},
    )
    for item in range(2):
        expected = ref.transform_tensor_bilinear(
            features[item].astype(np.float64), matrices[item], 16, 16
        )
        np.testing.assert_allclose(got[item], expected, atol=1e-4)


@pytest.mark.parametrize("dims", [2, 3])
def test_transform_landmarks_matches_reference(dims: int) -> None:
    points = RNG.uniform(0, 64, size=(2, 71, dims)).astype(np.float32)
    matrices = np.stack(
        [crop_matrix((100.0, 80.0), 0.6, (1.5, 1.2)), crop_matrix((40.0, 150.0), -2.0, (0.7, 0.7))]
    )
    (got,) = run_single_op("CUSTOM", "TransformLandmarks", 2, [points, matrices], [(1, 71, dims)])
    for item in range(2):
        expected = ref.transform_landmarks(points[item].astype(np.float64), matrices[item])
        np.testing.assert_allclose(got[item], expected, atol=1e-3)


@pytest.mark.parametrize(
    ("custom_code", "version"),
    [("Landmarks2TransformMatrix", 1), ("TransformTensor", 1), ("SomethingElse", 2)],
)
def test_unregistered_custom_ops_fail_naming_the_op(custom_code: str, version: int) -> None:
    with pytest.raises(UnsupportedOpError, match=f"CUSTOM:{custom_code}:v{version}"):
        run_single_op(
            "CUSTOM", custom_code, version, [np.zeros((1, 4, 3), np.float32)], [(1, 4, 4)], {}
        )
