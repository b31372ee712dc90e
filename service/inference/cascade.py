"""The pre-attention cascade as an ``InferenceBackend``: the 468-point mesh model, then the iris
model once per eye on a 64x64 crop cut from the same input, merged to the fused model's outputs.

Two model calls per batch (mesh on N crops, iris on 2N eye crops); the NumPy steps between and
after them are ``service.processing.iris_refinement``. The result is a ``ModelOutputs`` in the fused
model's contract, so ``postprocess`` and the response schema are shared with the attention
pipeline (what the cascade puts in the lips region and the affines: see
``service.processing.iris_refinement``).

Models (``make cascade-models``; ``converter/README.md``): ``face_landmark`` -> ``mesh``
[N, 468, 3] px192 + ``face_score`` [N]; ``iris_landmark`` -> ``eye_contour`` [N, 71, 3] +
``iris`` [N, 5, 3] px64; both take uint8 NHWC and scale to [0, 1] in-graph.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

import numpy as np

from service.contract import (
    CASCADE_MESH_OUTPUTS,
    IRIS_OUTPUTS,
    MODEL_INPUT_NAME,
    MODEL_INPUT_SIZE,
    ModelOutputs,
)
from service.core.config import Settings
from service.core.errors import BackendUnavailable
from service.inference.base import check_image_batch, checked_outputs
from service.inference.onnxruntime_backend import load_session
from service.processing.iris_refinement import assemble_outputs, crop_eyes, eye_rois

logger = logging.getLogger(__name__)


class ModelRunner(Protocol):
    """Runs one model: uint8 [N, S, S, 3] -> its named float32 outputs."""

    def run(self, images: np.ndarray) -> dict[str, np.ndarray]: ...


class OrtRunner:
    """One ONNX model in ONNX Runtime, checked against its expected outputs at load time."""

    def __init__(
        self,
        model_path: Path,
        outputs: dict[str, tuple[int, ...]],
        *,
        device: str = "auto",
        intra_op_threads: int = 0,
    ) -> None:
        self._session = load_session(
            model_path,
            device=device,
            intra_op_threads=intra_op_threads,
            build_hint="make cascade-models",
        )
        inputs = {i.name: i.type for i in self._session.get_inputs()}
        if inputs.get(MODEL_INPUT_NAME) != "tensor(uint8)":
            raise BackendUnavailable(f"{model_path} has no uint8 input {MODEL_INPUT_NAME!r}")
        missing = set(outputs) - {o.name for o in self._session.get_outputs()}
        if missing:
            raise BackendUnavailable(f"{model_path} lacks outputs {sorted(missing)}")
        self._names = list(outputs)
        self._shapes = outputs

    def run(self, images: np.ndarray) -> dict[str, np.ndarray]:
        try:
            arrays = self._session.run(self._names, {MODEL_INPUT_NAME: images})
        except Exception as exc:
            raise BackendUnavailable(f"onnxruntime failed: {exc}") from exc
        named = dict(zip(self._names, arrays, strict=True))
        return checked_outputs(named, self._shapes, images.shape[0], "cascade model")


class CascadeBackend:
    """``InferenceBackend`` for the cascade: mesh model, eye crops, iris model, merge."""

    def __init__(self, mesh: ModelRunner, iris: ModelRunner, name: str = "onnxruntime") -> None:
        self.name = name
        self._mesh = mesh
        self._iris = iris
        self._ready = False

    def infer(self, images: np.ndarray) -> ModelOutputs:
        """uint8 [N, 192, 192, 3] RGB -> ``ModelOutputs`` in px192 (blocking)."""
        check_image_batch(images)
        try:
            mesh = self._mesh.run(images)
            rois = eye_rois(mesh["mesh"])
            iris = self._iris.run(crop_eyes(images, rois))
        except BackendUnavailable:
            self._ready = False
            raise
        self._ready = True
        return assemble_outputs(
            mesh["mesh"], mesh["face_score"], rois, iris["eye_contour"], iris["iris"]
        )

    def warm_up(self) -> None:
        """One call on a black crop (both models), so the first request does not pay for it."""
        self.infer(np.zeros((1, MODEL_INPUT_SIZE, MODEL_INPUT_SIZE, 3), dtype=np.uint8))

    def is_ready(self) -> bool:
        """True once a call has succeeded and the last one did not fail."""
        return self._ready

    def close(self) -> None:
        self._ready = False


def create_cascade_backend(settings: Settings) -> CascadeBackend:
    """The cascade on embedded ONNX Runtime, from ``settings.cascade_mesh_path`` and
    ``settings.cascade_iris_path`` (warmed up)."""
    device, threads = settings.device, settings.intra_op_threads
    backend = CascadeBackend(
        OrtRunner(
            settings.cascade_mesh_path,
            CASCADE_MESH_OUTPUTS,
            device=device,
            intra_op_threads=threads,
        ),
        OrtRunner(
            settings.cascade_iris_path, IRIS_OUTPUTS, device=device, intra_op_threads=threads
        ),
    )
    backend.warm_up()
    logger.info("cascade loaded (%s, %s)", settings.cascade_mesh_path, settings.cascade_iris_path)
    return backend
