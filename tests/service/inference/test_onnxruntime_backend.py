"""The embedded ONNX Runtime backend on the real model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from imagekit import crop_array

from service.contract import MODEL_OUTPUTS
from service.core.errors import BackendUnavailable
from service.inference.base import InferenceBackend, check_image_batch
from service.inference.onnxruntime_backend import OnnxRuntimeBackend, select_providers


@pytest.fixture(scope="module")
def backend(model_path: Path) -> OnnxRuntimeBackend:
    return OnnxRuntimeBackend(model_path, device="cpu")


def test_is_an_inference_backend(backend: OnnxRuntimeBackend) -> None:
    assert isinstance(backend, InferenceBackend)
    assert backend.providers == ["CPUExecutionProvider"]


def test_ready_only_after_a_successful_call(model_path: Path) -> None:
    fresh = OnnxRuntimeBackend(model_path, device="cpu")
    assert not fresh.is_ready()
    fresh.warm_up()
    assert fresh.is_ready()
    fresh.close()
    assert not fresh.is_ready()


def test_outputs_follow_the_contract(backend: OnnxRuntimeBackend) -> None:
    crops = np.stack([crop_array("lenna_face0"), crop_array("takeo_face0")])
    outputs = backend.infer(crops)
    assert outputs.batch_size == 2
    for name, shape in MODEL_OUTPUTS.items():
        array = getattr(outputs, name)
        assert array.dtype == np.float32
        assert array.shape == (2, *shape)
    assert ((outputs.face_score > 0.5) & (outputs.face_score <= 1)).all()


def test_batch_rows_equal_single_calls(backend: OnnxRuntimeBackend) -> None:
    names = ["lenna_face0", "takeo_face0", "grace_hopper_face0"]
    crops = np.stack([crop_array(name) for name in names])
    batch = backend.infer(crops)
    for index in range(len(names)):
        single = backend.infer(crops[index : index + 1])
        np.testing.assert_allclose(batch.landmarks[index], single.landmarks[0], atol=1e-3)


@pytest.mark.parametrize(
    "images",
    [
        np.zeros((1, 192, 192, 3), np.float32),
        np.zeros((1, 96, 96, 3), np.uint8),
        np.zeros((192, 192, 3), np.uint8),
    ],
    ids=["float", "wrong-size", "no-batch"],
)
def test_rejects_inputs_off_contract(backend: OnnxRuntimeBackend, images: np.ndarray) -> None:
    with pytest.raises(ValueError, match="want uint8"):
        backend.infer(images)


def test_missing_model_is_backend_unavailable(tmp_path: Path) -> None:
    with pytest.raises(BackendUnavailable, match="make model"):
        OnnxRuntimeBackend(tmp_path / "absent.onnx")


def test_unloadable_model_is_backend_unavailable(tmp_path: Path) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    with pytest.raises(BackendUnavailable, match="cannot load"):
        OnnxRuntimeBackend(broken)


def test_provider_selection() -> None:
    cpu_only = ["CPUExecutionProvider"]
    with_cuda = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert select_providers("auto", cpu_only) == cpu_only
    assert select_providers("auto", with_cuda) == with_cuda
    assert select_providers("cpu", with_cuda) == cpu_only
    with pytest.raises(BackendUnavailable):
        select_providers("cuda", cpu_only)


@pytest.mark.parametrize(
    ("images", "min_batch"),
    [
        (np.zeros((1, 192, 192, 3), np.float32), 0),  # not uint8
        (np.zeros((192, 192, 3), np.uint8), 0),  # no batch axis
        (np.zeros((1, 128, 128, 3), np.uint8), 0),  # wrong size
        (np.zeros((0, 192, 192, 3), np.uint8), 1),  # empty where a batch is required
    ],
)
def test_check_image_batch_rejects_wrong_batches(images: np.ndarray, min_batch: int) -> None:
    with pytest.raises(ValueError, match="want uint8"):
        check_image_batch(images, min_batch=min_batch)
    check_image_batch(np.zeros((2, 192, 192, 3), np.uint8), min_batch=min_batch)
