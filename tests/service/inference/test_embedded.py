"""The embedded backend on the real model, on each runtime (OpenVINO and ONNX Runtime)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from service.contract import MODEL_OUTPUTS
from service.core.config import Settings
from service.core.errors import BackendUnavailable
from service.inference.base import InferenceBackend, check_image_batch
from service.inference.embedded import EmbeddedBackend
from service.inference.factory import create_backend
from service.inference.runtime import RuntimeOptions
from tests.service.imagekit import crop_array

RUNTIMES = ("openvino", "onnxruntime")


def _options(runtime: str) -> RuntimeOptions:
    return RuntimeOptions(runtime=runtime, device="cpu")  # type: ignore[arg-type]


@pytest.fixture(scope="module", params=RUNTIMES)
def backend(request: pytest.FixtureRequest, model_path: Path) -> EmbeddedBackend:
    return EmbeddedBackend.open(model_path, _options(request.param))


def test_is_an_inference_backend_on_the_asked_runtime(backend: EmbeddedBackend) -> None:
    assert isinstance(backend, InferenceBackend)
    assert backend.name == backend.runtime.name in RUNTIMES


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_settings_pick_the_runtime(model_path: Path, runtime: str) -> None:
    backend = create_backend(Settings(model_path=model_path, device="cpu", runtime=runtime))
    assert backend.name == runtime
    assert backend.is_ready()  # warmed up


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_ready_only_after_a_successful_call(model_path: Path, runtime: str) -> None:
    fresh = EmbeddedBackend.open(model_path, _options(runtime))
    assert not fresh.is_ready()
    fresh.warm_up()
    assert fresh.is_ready()
    fresh.close()
    assert not fresh.is_ready()


def test_outputs_follow_the_contract(backend: EmbeddedBackend) -> None:
    crops = np.stack([crop_array("lenna_face0"), crop_array("takeo_face0")])
    outputs = backend.infer(crops)
    assert outputs.batch_size == 2
    for name, shape in MODEL_OUTPUTS.items():
        array = getattr(outputs, name)
        assert array.dtype == np.float32
        assert array.shape == (2, *shape)
    assert ((outputs.face_score > 0.5) & (outputs.face_score <= 1)).all()


def test_batch_rows_equal_single_calls(backend: EmbeddedBackend) -> None:
    """A batch's rows equal single calls (OpenVINO runs 3 crops as bucket-1 calls)."""
    names = ["lenna_face0", "takeo_face0", "grace_hopper_face0"]
    crops = np.stack([crop_array(name) for name in names])
    batch = backend.infer(crops)
    assert batch.batch_size == 3
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
def test_rejects_inputs_off_contract(backend: EmbeddedBackend, images: np.ndarray) -> None:
    with pytest.raises(ValueError, match="want uint8"):
        backend.infer(images)


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


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_missing_model_is_backend_unavailable(tmp_path: Path, runtime: str) -> None:
    with pytest.raises(BackendUnavailable, match="make model"):
        EmbeddedBackend.open(tmp_path / "absent.onnx", _options(runtime))


def test_unloadable_model_is_backend_unavailable_on_onnxruntime(tmp_path: Path) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    with pytest.raises(BackendUnavailable, match="cannot load"):
        EmbeddedBackend.open(broken, _options("onnxruntime"))


def test_unloadable_model_falls_back_from_openvino_and_still_fails_clearly(
    tmp_path: Path,
) -> None:
    """OpenVINO cannot read it either: the fallback (ONNX Runtime) reports it."""
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    with pytest.raises(BackendUnavailable, match="cannot load"):
        EmbeddedBackend.open(broken, _options("openvino"))
