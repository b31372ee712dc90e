"""The face detector: one interface, an embedded and a Triton implementation.

The detector is MediaPipe's short-range model converted by ``converter`` (see
``converter/README.md``): one uint8 RGB input, outputs raw ``regressors`` float32 [N, B, 16]
and ``classificators`` float32 [N, B, 1] (logits), B anchors; sizes and anchors are
``service.contract.SHORT_RANGE``. The full-range model (``spec=FULL_RANGE``) runs embedded only.
Decoding, NMS and projection are NumPy in ``service.processing.detection``, shared by both
implementations, so their results are directly comparable.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, Unpack, runtime_checkable

import numpy as np

from service.contract import DETECTOR_SPECS, FULL_RANGE, SHORT_RANGE, DetectorSpec
from service.core.config import Settings
from service.core.memory import DETECTOR_MAX_BATCH_SIZE
from service.inference.base import check_image_batch
from service.inference.batcher import ModelCaller
from service.inference.runtime import Runtime, RuntimeOptions, open_runtime

if TYPE_CHECKING:
    from service.inference.triton_model import TritonOptions

logger = logging.getLogger(__name__)

# A detector's micro-batched calls: (regressors, classificators) per request.
DetectorCaller = ModelCaller[tuple[np.ndarray, np.ndarray]]


@runtime_checkable
class DetectorBackend(Protocol):
    """Runs the face detector on uint8 [N, S, S, 3] letterboxed frames (S: ``spec``)."""

    name: str
    spec: DetectorSpec

    @property
    def batch_sizes(self) -> tuple[int, ...]:
        """Batch sizes run without padding; () for any (as ``InferenceBackend.batch_sizes``)."""
        ...

    def detect(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Blocking; returns (regressors [N, B, 16], classificators [N, B, 1]) float32 (B: the
        spec's anchors). Raises ``BackendUnavailable`` when it cannot run."""
        ...

    def close(self) -> None: ...


class EmbeddedDetector:
    """``DetectorBackend`` running the detector ONNX file in-process on a ``Runtime``."""

    def __init__(self, runtime: Runtime, spec: DetectorSpec = SHORT_RANGE) -> None:
        self.runtime = runtime
        self.name = runtime.name
        self.spec = spec

    @property
    def batch_sizes(self) -> tuple[int, ...]:
        return self.runtime.batch_sizes

    @classmethod
    def open(
        cls,
        model_path: Path,
        options: RuntimeOptions | None = None,
        spec: DetectorSpec = SHORT_RANGE,
    ) -> EmbeddedDetector:
        runtime = open_runtime(model_path, DETECTOR_SPECS[spec.name], options or RuntimeOptions())
        return cls(runtime, spec)

    def detect(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        check_image_batch(images, self.spec.input_size)
        named = self.runtime.run(images)
        return named["regressors"], named["classificators"]

    def close(self) -> None:
        pass


class TritonDetector:
    """``DetectorBackend`` calling the ``face_detector`` model on a Triton server
    (``model_repository/face_detector/config.pbtxt``), over gRPC or HTTP, with the mesh
    backend's per-thread clients, deadlines, retries and error mapping
    (``service.inference.triton_model.TritonModel``)."""

    name = "triton"
    spec = SHORT_RANGE
    batch_sizes: tuple[int, ...] = ()  # Triton batches dynamically

    def __init__(self, url: str, **options: Unpack[TritonOptions]) -> None:
        from service.inference.triton_model import TritonModel

        self.model = TritonModel(url, spec=DETECTOR_SPECS[SHORT_RANGE.name], **options)

    def detect(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        named = self.model.run(images)  # validates the batch and the outputs, once
        return named["regressors"], named["classificators"]

    def close(self) -> None:
        self.model.close()


def create_detector(settings: Settings, kind: str = SHORT_RANGE.name) -> DetectorBackend:
    """The ``kind`` detector (``short`` or ``full``) for ``settings.backend`` (the same
    backend as the landmark model; the full-range one always embedded)."""
    options = RuntimeOptions.from_settings(settings).capped(DETECTOR_MAX_BATCH_SIZE)
    if kind == FULL_RANGE.name:
        return EmbeddedDetector.open(settings.detector_full_model_path, options, FULL_RANGE)
    if settings.backend == "embedded":
        return EmbeddedDetector.open(settings.detector_model_path, options)
    return TritonDetector(
        settings.triton_url,
        protocol=settings.triton_protocol,
        model_name=settings.detector_model_name,
        model_version="1",
        timeout_s=settings.triton_timeout_s,
    )
