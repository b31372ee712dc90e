"""The embedded backend: the fused ONNX model run in-process by ONNX Runtime.

CPU by default; with ``device="auto"`` the CUDA provider is used when ``onnxruntime-gpu`` is
installed and sees a GPU. An ``InferenceSession`` is safe to ``run`` from several threads.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import onnxruntime as ort

from service.contract import MODEL_INPUT_NAME, MODEL_INPUT_SIZE, MODEL_OUTPUTS, ModelOutputs
from service.core.errors import BackendUnavailable
from service.inference.base import check_image_batch

logger = logging.getLogger(__name__)

_CUDA = "CUDAExecutionProvider"
_CPU = "CPUExecutionProvider"


def select_providers(device: str, available: list[str]) -> list[str]:
    """ONNX Runtime execution providers for ``device`` ("auto", "cpu" or "cuda")."""
    if device == "cpu":
        return [_CPU]
    if device == "cuda":
        if _CUDA not in available:
            raise BackendUnavailable(f"device=cuda but onnxruntime offers only {available}")
        return [_CUDA, _CPU]
    return [_CUDA, _CPU] if _CUDA in available else [_CPU]


def load_session(
    model_path: Path,
    *,
    device: str = "auto",
    intra_op_threads: int = 0,
    intra_op_spinning: bool = False,
    build_hint: str = "make model",
) -> ort.InferenceSession:
    """An ``InferenceSession`` for ``model_path`` with the service's threading options; any
    failure to find or load the file is ``BackendUnavailable``."""
    if not model_path.is_file():
        raise BackendUnavailable(
            f"model file {model_path} not found (build it with `{build_hint}`)"
        )
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry(
        "session.intra_op.allow_spinning", "1" if intra_op_spinning else "0"
    )
    options.log_severity_level = 3
    providers = select_providers(device, ort.get_available_providers())
    try:
        return ort.InferenceSession(str(model_path), options, providers=providers)
    except Exception as exc:  # onnxruntime raises its own unrelated exception types
        raise BackendUnavailable(f"cannot load {model_path}: {exc}") from exc


class OnnxRuntimeBackend:
    """``InferenceBackend`` running ``model_path`` with ONNX Runtime."""

    name = "onnxruntime"

    def __init__(
        self,
        model_path: Path,
        *,
        device: str = "auto",
        intra_op_threads: int = 0,
        intra_op_spinning: bool = False,
    ) -> None:
        self._session = load_session(
            model_path,
            device=device,
            intra_op_threads=intra_op_threads,
            intra_op_spinning=intra_op_spinning,
        )
        self._check_signature()
        self.providers: list[str] = list(self._session.get_providers())
        self._output_names = [o.name for o in self._session.get_outputs()]
        self._ready = False
        logger.info("loaded %s with %s", model_path, self.providers)

    def _check_signature(self) -> None:
        inputs = {i.name: i for i in self._session.get_inputs()}
        if MODEL_INPUT_NAME not in inputs or inputs[MODEL_INPUT_NAME].type != "tensor(uint8)":
            raise BackendUnavailable(f"model has no uint8 input {MODEL_INPUT_NAME!r}")
        missing = set(MODEL_OUTPUTS) - {o.name for o in self._session.get_outputs()}
        if missing:
            raise BackendUnavailable(f"model lacks outputs {sorted(missing)}")

    def infer(self, images: np.ndarray) -> ModelOutputs:
        """uint8 [N, 192, 192, 3] RGB -> ``ModelOutputs`` (blocking)."""
        check_image_batch(images)
        try:
            arrays = self._session.run(self._output_names, {MODEL_INPUT_NAME: images})
        except Exception as exc:
            self._ready = False
            raise BackendUnavailable(f"onnxruntime failed: {exc}") from exc
        outputs = ModelOutputs.from_named(dict(zip(self._output_names, arrays, strict=True)))
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
