"""The one inference interface shared by every backend.

A backend takes a batch of 192x192 RGB crops and returns the fused model's outputs, exactly
as the ONNX graph names them (see ``converter/README.md`` for the contract). Pre- and
post-processing live in ``service.processing`` so the embedded ONNX Runtime backend and the
Triton backend produce directly comparable results.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from service.core.errors import BackendUnavailable

MODEL_INPUT_NAME = "image"
MODEL_INPUT_SIZE = 192

# Output name -> shape without the batch dimension (float32), the model's contract.
MODEL_OUTPUTS: dict[str, tuple[int, ...]] = {
    "landmarks": (478, 3),
    "mesh": (468, 3),
    "lips": (80, 2),
    "left_eye": (71, 2),
    "right_eye": (71, 2),
    "left_iris": (5, 2),
    "right_iris": (5, 2),
    "region_transforms": (3, 4, 4),
    "face_score": (),
}


@dataclass(frozen=True)
class ModelSpec:
    """What one model looks like to every runtime and to Triton: one uint8 NHWC input of
    ``input_size`` squared pixels named ``input_name``, and ``outputs`` (name -> float32 shape
    without the batch dimension). ``label`` names it in errors; ``build_hint`` says how to
    build its file."""

    label: str
    input_size: int
    outputs: Mapping[str, tuple[int, ...]]
    input_name: str = "image"
    build_hint: str = "make model"


ATTENTION_SPEC = ModelSpec("attention mesh", MODEL_INPUT_SIZE, MODEL_OUTPUTS, MODEL_INPUT_NAME)


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


@dataclass(frozen=True)
class ModelOutputs:
    """Raw model outputs for a batch of N crops, in px192 units (see converter README).

    landmarks:          float32 [N, 478, 3]
    mesh:               float32 [N, 468, 3]
    lips:               float32 [N, 80, 2]
    left_eye/right_eye: float32 [N, 71, 2]
    left_iris/right_iris: float32 [N, 5, 2]
    region_transforms:  float32 [N, 3, 4, 4]  (lips, left eye, right eye)
    face_score:         float32 [N]           (sigmoid of the face-presence logit)
    """

    landmarks: np.ndarray
    mesh: np.ndarray
    lips: np.ndarray
    left_eye: np.ndarray
    right_eye: np.ndarray
    left_iris: np.ndarray
    right_iris: np.ndarray
    region_transforms: np.ndarray
    face_score: np.ndarray

    @classmethod
    def from_named(cls, named: dict[str, np.ndarray]) -> ModelOutputs:
        """Build from a name -> array mapping, checking every contract shape."""
        arrays: dict[str, np.ndarray] = {}
        batch: int | None = None
        for name, shape in MODEL_OUTPUTS.items():
            if name not in named:
                raise ValueError(f"model output {name!r} missing")
            array = np.asarray(named[name], dtype=np.float32)
            if array.shape[1:] != shape:
                raise ValueError(f"model output {name!r} has shape {array.shape}, want [N,{shape}]")
            if batch is None:
                batch = array.shape[0]
            elif array.shape[0] != batch:
                raise ValueError(f"model output {name!r} has batch {array.shape[0]}, want {batch}")
            arrays[name] = array
        return cls(**arrays)

    @property
    def batch_size(self) -> int:
        return int(self.face_score.shape[0])


@runtime_checkable
class InferenceBackend(Protocol):
    """Runs the fused attention-mesh model on uint8 [N, 192, 192, 3] RGB crops."""

    name: str

    def infer(self, images: np.ndarray) -> ModelOutputs:
        """Blocking call; raises ``service.core.errors.BackendUnavailable`` when it cannot run."""
        ...

    def is_ready(self) -> bool:
        """True when the model is loaded and answering."""
        ...

    def close(self) -> None: ...
