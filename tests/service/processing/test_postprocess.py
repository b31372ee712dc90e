"""postprocess: px192 -> posted pixels, region affines, score threshold."""

from __future__ import annotations

import numpy as np
import pytest

from service.contract import MODEL_OUTPUTS, ModelOutputs
from service.processing.postprocess import postprocess, unit_square_to_px192
from service.processing.preprocess import CropTransform

IDENTITY = CropTransform(192, 192, 1.0, 1.0, 0.0, 0.0)


def _outputs(batch: int, scores: list[float], seed: int = 0) -> ModelOutputs:
    rng = np.random.default_rng(seed)
    named = {
        name: rng.uniform(0, 192, size=(batch, *shape)).astype(np.float32)
        for name, shape in MODEL_OUTPUTS.items()
    }
    named["face_score"] = np.asarray(scores, dtype=np.float32)
    transforms = np.zeros((batch, 3, 4, 4), dtype=np.float32)
    transforms[:, :, 0, :] = [0.5, 0.1, 0.0, 10.0]  # a, b, 0, tx
    transforms[:, :, 1, :] = [-0.1, 0.5, 0.0, 20.0]  # c, d, 0, ty
    transforms[:, :, 2, 2] = 1.0
    transforms[:, :, 3, 3] = 1.0
    named["region_transforms"] = transforms
    return ModelOutputs.from_named(named)


def test_unit_square_to_px192_follows_the_contract() -> None:
    matrix = np.zeros((4, 4), dtype=np.float32)
    matrix[0] = [0.5, 0.1, 0.0, 10.0]
    matrix[1] = [-0.1, 0.5, 0.0, 20.0]
    out = unit_square_to_px192(matrix)
    # 4 * A_2x3 @ diag(16, 16, 1)
    np.testing.assert_allclose(out[:2], [[32.0, 6.4, 40.0], [-6.4, 32.0, 80.0]], rtol=1e-6)
    np.testing.assert_allclose(out[2], [0, 0, 1])
    # Unit-square corner (1, 1) is grid (16, 16): feature (a*16+b*16+tx, ...), px = 4 * that.
    corner = out @ np.array([1.0, 1.0, 1.0])
    np.testing.assert_allclose(corner[:2], [4 * (8 + 1.6 + 10), 4 * (-1.6 + 8 + 20)], rtol=1e-6)


def test_identity_transform_keeps_model_pixels() -> None:
    outputs = _outputs(1, [0.9])
    (face,) = postprocess(outputs, [IDENTITY], score_threshold=0.5)
    assert face.score == pytest.approx(0.9)
    assert face.landmarks is not None and face.regions is not None
    np.testing.assert_allclose(face.landmarks, outputs.landmarks[0], rtol=1e-6)
    np.testing.assert_allclose(face.regions["lips"].landmarks, outputs.lips[0], rtol=1e-6)
    assert face.regions["left_iris"].affine is None
    assert set(face.regions) == {"lips", "left_eye", "right_eye", "left_iris", "right_iris"}


def test_scaled_and_padded_transform_maps_points_and_affines() -> None:
    transform = CropTransform(400, 200, 400 / 192, 200 / 96, 0.0, 48.0)
    outputs = _outputs(1, [1.0])
    (face,) = postprocess(outputs, [transform], score_threshold=0.5)
    assert face.landmarks is not None and face.regions is not None
    px = outputs.landmarks[0].astype(np.float64)
    np.testing.assert_allclose(face.landmarks[:, 0], px[:, 0] * 400 / 192, rtol=1e-6)
    np.testing.assert_allclose(face.landmarks[:, 1], (px[:, 1] - 48.0) * 200 / 96, rtol=1e-6)
    np.testing.assert_allclose(face.landmarks[:, 2], px[:, 2] * 400 / 192, rtol=1e-6)
    eye = outputs.right_eye[0].astype(np.float64)
    np.testing.assert_allclose(
        face.regions["right_eye"].landmarks[:, 1], (eye[:, 1] - 48) * 200 / 96
    )
    # The affine sends the unit square's centre where px192 sends it, then through the crop map.
    affine = face.regions["lips"].affine
    assert affine is not None and affine.shape == (2, 3)
    centre_px192 = unit_square_to_px192(outputs.region_transforms[0, 0]) @ [0.5, 0.5, 1.0]
    expected = [centre_px192[0] * 400 / 192, (centre_px192[1] - 48.0) * 200 / 96]
    np.testing.assert_allclose(affine @ [0.5, 0.5, 1.0], expected, rtol=1e-6)


def test_below_threshold_keeps_score_and_nulls_landmarks() -> None:
    outputs = _outputs(3, [0.2, 0.5, float("nan")])
    low, exact, nan = postprocess(outputs, [IDENTITY] * 3, score_threshold=0.5)
    assert low.score == pytest.approx(0.2)
    assert low.landmarks is None and low.regions is None
    assert exact.landmarks is not None  # the threshold itself passes
    assert nan.landmarks is None


def test_batch_and_transform_count_must_match() -> None:
    with pytest.raises(ValueError, match="2 model results for 1 crops"):
        postprocess(_outputs(2, [1.0, 1.0]), [IDENTITY], score_threshold=0.5)
