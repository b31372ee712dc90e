"""The embedded backend: the fused ONNX model run in-process by the runtime layer
(``service.inference.runtime``: OpenVINO on CPU by default, ONNX Runtime for CUDA and as the
fallback). Thread-safe: several calls may run at once."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from service.contract import ATTENTION_SPEC, ModelOutputs
from service.inference.base import InProcessBackend
from service.inference.runtime import Runtime, RuntimeOptions, open_runtime

logger = logging.getLogger(__name__)


class EmbeddedBackend(InProcessBackend):
    """``InferenceBackend`` running the fused model on a ``Runtime``; ``name`` is the
    runtime's ("openvino" or "onnxruntime")."""

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime.name)
        self.runtime = runtime

    @classmethod
    def open(cls, model_path: Path, options: RuntimeOptions | None = None) -> EmbeddedBackend:
        """The fused model at ``model_path`` on the runtime ``options`` pick (not warmed up)."""
        runtime = open_runtime(model_path, ATTENTION_SPEC, options or RuntimeOptions())
        logger.info("loaded %s with %s", model_path, runtime.name)
        return cls(runtime)

    @property
    def batch_sizes(self) -> tuple[int, ...]:
        return self.runtime.batch_sizes

    def _run(self, images: np.ndarray) -> ModelOutputs:
        return ModelOutputs.from_named(self.runtime.run(images))
