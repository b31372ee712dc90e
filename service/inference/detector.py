"""The face detector: one interface, an embedded ONNX Runtime and a Triton implementation.

The detector is MediaPipe's short-range model converted by ``converter`` (see
``converter/README.md``): input ``image`` uint8 [N, 128, 128, 3] RGB, outputs raw
``regressors`` float32 [N, 896, 16] and ``classificators`` float32 [N, 896, 1] (logits).
The full-range model (``spec=FULL_RANGE``: 192x192 input, 2304 anchors) runs on embedded
ONNX Runtime only.
Decoding, NMS and projection are NumPy in ``service.processing.detection``, shared by both
implementations, so their results are directly comparable.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from service.core.config import Settings
from service.core.errors import BackendUnavailable
from service.inference.base import check_image_batch, checked_outputs
from service.inference.onnxruntime_backend import load_session
from service.processing.detection import (
    DETECTOR_INPUT_SIZE,
    FULL_RANGE,
    NUM_BOXES,
    NUM_COORDS,
    SHORT_RANGE,
    DetectorSpec,
)

logger = logging.getLogger(__name__)

DETECTOR_INPUT_NAME = "image"
DETECTOR_OUTPUTS: dict[str, tuple[int, ...]] = {
    "regressors": (NUM_BOXES, NUM_COORDS),
    "classificators": (NUM_BOXES, 1),
}


@runtime_checkable
class DetectorBackend(Protocol):
    """Runs the face detector on uint8 [N, S, S, 3] letterboxed frames (S: ``spec``)."""

    name: str
    spec: DetectorSpec

    def detect(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Blocking; returns (regressors [N, 896, 16], classificators [N, 896, 1]) float32.
        Raises ``BackendUnavailable`` when it cannot run."""
        ...

    def close(self) -> None: ...


def check_outputs(
    named: dict[str, Any], batch: int, spec: DetectorSpec = SHORT_RANGE
) -> tuple[np.ndarray, np.ndarray]:
    """The two contract outputs as float32, shapes checked (for ``spec``'s anchor count)."""
    expected = {"regressors": (spec.num_boxes, NUM_COORDS), "classificators": (spec.num_boxes, 1)}
    arrays = checked_outputs(named, expected, batch, "detector")
    return arrays["regressors"], arrays["classificators"]


class OnnxRuntimeDetector:
    """``DetectorBackend`` running the detector ONNX file in-process."""

    name = "onnxruntime"

    def __init__(
        self,
        model_path: Path,
        *,
        device: str = "auto",
        intra_op_threads: int = 0,
        spec: DetectorSpec = SHORT_RANGE,
    ):
        self.spec = spec
        self._session = load_session(model_path, device=device, intra_op_threads=intra_op_threads)
        names = {o.name for o in self._session.get_outputs()}
        if set(DETECTOR_OUTPUTS) - names:
            raise BackendUnavailable(f"{model_path} lacks outputs {sorted(DETECTOR_OUTPUTS)}")

    def detect(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        check_image_batch(images, self.spec.input_size)
        try:
            arrays = self._session.run(list(DETECTOR_OUTPUTS), {DETECTOR_INPUT_NAME: images})
        except Exception as exc:
            raise BackendUnavailable(f"onnxruntime detector failed: {exc}") from exc
        named = dict(zip(DETECTOR_OUTPUTS, arrays, strict=True))
        return check_outputs(named, len(images), self.spec)

    def close(self) -> None:
        pass


class TritonDetector:
    """``DetectorBackend`` calling the ``face_detector`` model on a Triton server
    (``model_repository/face_detector/config.pbtxt``), over gRPC or HTTP."""

    name = "triton"
    spec = SHORT_RANGE

    def __init__(
        self, url: str, *, protocol: str, model_name: str, model_version: str, timeout_s: float
    ) -> None:
        self._url, self._protocol = url, protocol
        self._model_name, self._model_version = model_name, model_version
        self._timeout_s = timeout_s
        self._client: Any = None

    def _connect(self) -> Any:
        if self._client is None:
            if self._protocol == "grpc":
                import tritonclient.grpc as client_module
            else:
                import tritonclient.http as client_module
            self._module = client_module
            self._client = client_module.InferenceServerClient(self._url)
        return self._client

    def detect(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        check_image_batch(images, DETECTOR_INPUT_SIZE)
        try:
            client = self._connect()
            module = self._module
            image = module.InferInput(DETECTOR_INPUT_NAME, list(images.shape), "UINT8")
            if self._protocol == "grpc":
                image.set_data_from_numpy(images)
                outputs = [module.InferRequestedOutput(name) for name in DETECTOR_OUTPUTS]
                result = client.infer(
                    self._model_name,
                    [image],
                    model_version=self._model_version,
                    outputs=outputs,
                    client_timeout=self._timeout_s,
                )
            else:
                image.set_data_from_numpy(images, binary_data=True)
                outputs = [
                    module.InferRequestedOutput(name, binary_data=True) for name in DETECTOR_OUTPUTS
                ]
                result = client.infer(
                    self._model_name,
                    [image],
                    model_version=self._model_version,
                    outputs=outputs,
                    timeout=int(self._timeout_s * 1e6),
                )
            named = {name: result.as_numpy(name) for name in DETECTOR_OUTPUTS}
        except BackendUnavailable:
            raise
        except Exception as exc:  # any client-library failure means "no answer"
            self.close()
            raise BackendUnavailable(
                f"Triton detector failed: {type(exc).__name__}: {exc}"
            ) from exc
        return check_outputs(named, len(images))

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.close()
            except Exception:  # closing a broken client must not raise
                logger.debug("closing the Triton detector client failed", exc_info=True)


def create_detector(settings: Settings, kind: str = "short") -> DetectorBackend:
    """The ``kind`` detector (``short`` or ``full``) for ``settings.backend`` (the same
    backend as the landmark model; the full-range one always on embedded ONNX Runtime)."""
    if kind == FULL_RANGE.name:
        return OnnxRuntimeDetector(
            settings.detector_full_model_path,
            device=settings.device,
            intra_op_threads=settings.intra_op_threads,
            spec=FULL_RANGE,
        )
    if settings.backend == "onnxruntime":
        return OnnxRuntimeDetector(
            settings.detector_model_path,
            device=settings.device,
            intra_op_threads=settings.intra_op_threads,
        )
    return TritonDetector(
        settings.triton_url,
        protocol=settings.triton_protocol,
        model_name=settings.detector_model_name,
        model_version="1",
        timeout_s=settings.triton_timeout_s,
    )
