"""``service/inference/base.py``: the input check every backend shares (a caller's bug is a
``ValueError``) and the output check (a backend off the contract is ``BackendUnavailable``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from service.contract import MODEL_INPUT_SIZE, MODEL_OUTPUTS
from service.core.errors import BackendUnavailable
from service.inference.base import InferenceBackend, check_image_batch, checked_outputs
from service.inference.embedded import EmbeddedBackend
from service.inference.runtime import RuntimeOptions

SIZE = MODEL_INPUT_SIZE


@pytest.mark.parametrize(
    "images",
    [
        np.zeros((1, SIZE, SIZE, 3), np.float32),  # not uint8
        np.zeros((SIZE, SIZE, 3), np.uint8),  # no batch dimension
        np.zeros((1, SIZE, SIZE, 4), np.uint8),  # RGBA
        np.zeros((1, SIZE + 1, SIZE, 3), np.uint8),  # off the model's size
    ],
    ids=["float", "unbatched", "rgba", "size"],
)
def test_images_off_the_contract_are_a_callers_bug(images: np.ndarray) -> None:
    with pytest.raises(ValueError, match="want uint8"):
        check_image_batch(images)


def test_a_batch_can_be_empty_unless_a_minimum_is_asked() -> None:
    check_image_batch(np.zeros((0, SIZE, SIZE, 3), np.uint8))
    check_image_batch(np.zeros((2, 64, 64, 3), np.uint8), size=64, min_batch=2)
    with pytest.raises(ValueError, match="N>=1"):
        check_image_batch(np.zeros((0, SIZE, SIZE, 3), np.uint8), min_batch=1)


def test_outputs_off_the_contract_mean_the_backend_is_unavailable() -> None:
    named = {name: np.zeros((2, *shape), np.float64) for name, shape in MODEL_OUTPUTS.items()}
    arrays = checked_outputs(named, MODEL_OUTPUTS, 2, "attention")
    assert all(array.dtype == np.float32 for array in arrays.values())
    missing = {k: v for k, v in named.items() if k != "face_score"}
    with pytest.raises(BackendUnavailable, match="'face_score' missing"):
        checked_outputs(missing, MODEL_OUTPUTS, 2, "attention")
    with pytest.raises(BackendUnavailable, match="has shape"):
        checked_outputs(named, MODEL_OUTPUTS, 3, "attention")


def test_an_in_process_backend_is_ready_after_its_warm_up(model_path: Path) -> None:
    backend = EmbeddedBackend.open(model_path, RuntimeOptions(device="cpu", threads=1))
    try:
        assert isinstance(backend, InferenceBackend)
        assert not backend.is_ready()
        backend.warm_up()
        assert backend.is_ready()
        with pytest.raises(ValueError):
            backend.infer(np.zeros((1, SIZE, SIZE, 3), np.float32))
    finally:
        backend.close()
