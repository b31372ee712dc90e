"""The face detector: one interface, an embedded and a Triton implementation.

The detector is MediaPipe's short-range model converted by ``converter`` (see
``converter/README.md``): input ``image`` uint8 [N, 128, 128, 3] RGB, outputs raw
``regressors`` float32 [N, 896, 16] and ``classificators`` float32 [N, 896, 1] (logits).
Decoding, NMS and projection are NumPy in ``service.processing.detection``, shared by both
implementations, so their results are directly comparable.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from service.core.config import Settings
from service.inference.base import ModelSpec, check_image_batch
from service.inference.runtime import Runtime, RuntimeOptions, open_runtime
from service.processing.detection import DETECTOR_INPUT_SIZE, NUM_BOXES, NUM_COORDS

logger = logging.getLogger(__name__)

DETECTOR_SPEC = ModelSpec(
    "face detector",
    DETECTOR_INPUT_SIZE,
    {"regressors": (NUM_BOXES, NUM_COORDS), "classificators": (NUM_BOXES, 1)},
)


@runtime_checkable
class DetectorBackend(Protocol):
    """Runs the face detector on uint8 [N, 128, 128, 3] letterboxed frames."""

    name: str

    def detect(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Blocking; returns (regressors [N, 896, 16], classificators [N, 896, 1]) float32.
        Raises ``BackendUnavailable`` when it cannot run."""
        ...

    def close(self) -> None: ...


class EmbeddedDetector:
    """``DetectorBackend`` running the detector ONNX file in-process on a ``Runtime``."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.name = runtime.name

    @classmethod
    def open(cls, model_path: Path, options: RuntimeOptions | None = None) -> EmbeddedDetector:
        return cls(open_runtime(model_path, DETECTOR_SPEC, options or RuntimeOptions()))

    def detect(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        check_image_batch(images, DETECTOR_INPUT_SIZE)
        named = self.runtime.run(images)
        return named["regressors"], named["classificators"]

    def close(self) -> None:
        pass


class TritonDetector:
    """``DetectorBackend`` calling the ``face_detector`` model on a Triton server
    (``model_repository/face_detector/config.pbtxt``), over gRPC or HTTP, with the mesh
    backend's per-thread clients, deadlines, retries and error mapping
    (``service.inference.triton.TritonModel``)."""

    name = "triton"

    def __init__(
        self,
        url: str,
        *,
        protocol: str,
        model_name: str,
        model_version: str,
        timeout_s: float,
        retries: int = 1,
    ) -> None:
        from service.inference.triton import TritonModel

        if protocol not in ("grpc", "http"):
            raise ValueError(f"protocol must be 'grpc' or 'http', not {protocol!r}")
        self.model = TritonModel(
            url,
            spec=DETECTOR_SPEC,
            protocol="grpc" if protocol == "grpc" else "http",
            model_name=model_name,
            model_version=model_version,
            timeout_s=timeout_s,
            retries=retries,
        )

    def detect(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        check_image_batch(images, DETECTOR_INPUT_SIZE)
        named = self.model.run(images)
        return named["regressors"], named["classificators"]

    def close(self) -> None:
        self.model.close()


def create_detector(settings: Settings) -> DetectorBackend:
    """The detector for ``settings.backend`` (the same backend as the landmark model)."""
    if settings.backend == "onnxruntime":
        return EmbeddedDetector.open(
            settings.detector_model_path, RuntimeOptions.from_settings(settings)
        )
    return TritonDetector(
        settings.triton_url,
        protocol=settings.triton_protocol,
        model_name=settings.detector_model_name,
        model_version="1",
        timeout_s=settings.triton_timeout_s,
    )
