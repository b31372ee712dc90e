"""The embedded backend: the fused ONNX model run in-process by the runtime layer
(``service.inference.runtime``: OpenVINO on CPU by default, ONNX Runtime for CUDA and as the
fallback). Thread-safe: several calls may run at once."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from service.contract import MODEL_INPUT_SIZE, ModelOutputs
from service.core.errors import BackendUnavailable
from service.inference.base import ATTENTION_SPEC, check_image_batch
from service.inference.runtime import Runtime, RuntimeOptions, open_runtime

logger = logging.getLogger(__name__)


class EmbeddedBackend:
    """``InferenceBackend`` running the fused model on a ``Runtime``; ``name`` is the
    runtime's ("openvino" or "onnxruntime")."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.name = runtime.name
        self._ready = False

    @classmethod
    def open(cls, model_path: Path, options: RuntimeOptions | None = None) -> EmbeddedBackend:
        """The fused model at ``model_path`` on the runtime ``options`` pick (not warmed up)."""
        runtime = open_runtime(model_path, ATTENTION_SPEC, options or RuntimeOptions())
        logger.info("loaded %s with %s", model_path, runtime.name)
        return cls(runtime)

    def infer(self, images: np.ndarray) -> ModelOutputs:
        """uint8 [N, 192, 192, 3] RGB -> ``ModelOutputs`` (blocking)."""
        check_image_batch(images)
        try:
            named = self.runtime.run(images)
        except BackendUnavailable:
            self._ready = False
            raise
        outputs = ModelOutputs.from_named(named)
        self._ready = True
        return outputs

    def warm_up(self) -> None:
        """One call on a black crop, so the first request does not pay for allocation."""
        self.infer(np.zeros((1, MODEL_INPUT_SIZE, MODEL_INPUT_SIZE, 3), dtype=np.uint8))

    def is_ready(self) -> bool:
        """True once a model call has succeeded and the last one did not fail."""
        return self._ready

    def close(self) -> None:
        self._ready = False
