"""The one inference interface shared by every backend.

A backend takes a batch of 192x192 RGB crops and returns the fused model's outputs, exactly
as the ONNX graph names them (see ``converter/README.md`` for the contract). Pre- and
post-processing live in ``service.processing`` so the embedded backends (in process, on
OpenVINO or ONNX Runtime) and the Triton backend produce directly comparable results.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np

from service.contract import MODEL_INPUT_SIZE, ModelOutputs, ModelSpec
from service.core.errors import BackendUnavailable


def check_image_batch(images: np.ndarray, size: int = MODEL_INPUT_SIZE, min_batch: int = 0) -> None:
    """Raise ``ValueError`` unless ``images`` is uint8 [N, size, size, 3] with N >= min_batch
    (a programming error upstream, not a client error: preprocess always produces this)."""
    if (
        images.dtype != np.uint8
        or images.ndim != 4
        or images.shape[1:] != (size, size, 3)
        or images.shape[0] < min_batch
    ):
        batch = f"N>={min_batch}" if min_batch else "N"
        raise ValueError(
            f"want uint8 [{batch}, {size}, {size}, 3], got {images.dtype} {images.shape}"
        )


def check_input_batch(batch: np.ndarray, spec: ModelSpec, min_batch: int = 0) -> None:
    """Raise ``ValueError`` unless ``batch`` is [N, *spec.input_shape] of ``spec``'s input
    dtype with N >= min_batch (images for the image models, points for the blendshape model)."""
    if (
        batch.dtype != np.dtype(spec.input_dtype)
        or batch.shape[1:] != spec.input_shape
        or batch.ndim != 1 + len(spec.input_shape)
        or batch.shape[0] < min_batch
    ):
        raise ValueError(
            f"{spec.label}: want {spec.input_dtype} [N, {', '.join(map(str, spec.input_shape))}]"
            f", got {batch.dtype} {batch.shape}"
        )


def checked_outputs(
    named: Mapping[str, Any], expected: Mapping[str, tuple[int, ...]], batch: int, model: str
) -> dict[str, np.ndarray]:
    """``expected``'s outputs as float32 [batch, *shape]; a missing or misshapen one means the
    backend is not serving the model we expect: ``BackendUnavailable``."""
    arrays: dict[str, np.ndarray] = {}
    for name, shape in expected.items():
        if name not in named:
            raise BackendUnavailable(f"{model} output {name!r} missing")
        array = np.asarray(named[name], dtype=np.float32)
        if array.shape != (batch, *shape):
            raise BackendUnavailable(f"{model} output {name!r} has shape {array.shape}")
        arrays[name] = array
    return arrays


@runtime_checkable
class InferenceBackend(Protocol):
    """Runs the fused attention-mesh model on uint8 [N, 192, 192, 3] RGB crops.

    ``batch_sizes``: the batch sizes it runs without padding (OpenVINO's compiled sizes),
    () when any size runs as is (ONNX Runtime, Triton); the micro-batcher trims to them."""

    name: str

    @property
    def batch_sizes(self) -> tuple[int, ...]: ...

    def infer(self, images: np.ndarray) -> ModelOutputs:
        """Blocking call; raises ``service.core.errors.BackendUnavailable`` when it cannot run."""
        ...

    def is_ready(self) -> bool:
        """True when the model is loaded and answering."""
        ...

    def close(self) -> None: ...


class InProcessBackend(ABC):
    """What the in-process backends share: input check, readiness (ready once a call has
    succeeded and the last one did not fail), warm-up on a black crop, close. Subclasses
    implement ``_run``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._ready = False

    @abstractmethod
    def _run(self, images: np.ndarray) -> ModelOutputs:
        """The model call(s) on checked uint8 [N, 192, 192, 3] RGB crops (blocking)."""

    def infer(self, images: np.ndarray) -> ModelOutputs:
        """uint8 [N, 192, 192, 3] RGB -> ``ModelOutputs`` in px192 (blocking)."""
        check_image_batch(images)
        try:
            outputs = self._run(images)
        except BackendUnavailable:
            self._ready = False
            raise
        self._ready = True
        return outputs

    def warm_up(self) -> None:
        """One call on a black crop, so the first request does not pay for allocation."""
        self.infer(np.zeros((1, MODEL_INPUT_SIZE, MODEL_INPUT_SIZE, 3), dtype=np.uint8))

    def is_ready(self) -> bool:
        return self._ready

    def close(self) -> None:
        self._ready = False
