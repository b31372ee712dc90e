"""FaceLandmarker's landmark model as an ``InferenceBackend`` (the ``landmarker`` pipeline).

uint8 [N, 256, 256, 3] RGB crops (``contract.LANDMARKER_SPEC``) -> ``ModelOutputs`` in px256:
478 points and the face-presence score; the regions are the model's own points and carry no
transforms (``service.processing.landmarker.landmarker_outputs``). Embedded (OpenVINO or ONNX
Runtime, ``make landmarker-models``) or on Triton (``face_landmarker``, the same backend as
the attention model).
"""

from __future__ import annotations

import logging

import numpy as np

from service.contract import LANDMARKER_SPEC, ModelOutputs
from service.core.config import Settings
from service.core.errors import BackendUnavailable
from service.inference.base import InProcessBackend, check_input_batch
from service.inference.runtime import Runtime, RuntimeOptions, open_runtime
from service.processing.landmarker import landmarker_outputs

logger = logging.getLogger(__name__)

# Compiled OpenVINO batch sizes when the landmarker is only selectable per request (as the
# cascade's: each compiled size costs memory).
EXTRA_PIPELINE_MAX_BUCKET = 4


class LandmarkerBackend(InProcessBackend):
    """``InferenceBackend`` running the landmark model on a ``Runtime``."""

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime.name)
        self.runtime = runtime

    @property
    def batch_sizes(self) -> tuple[int, ...]:
        return self.runtime.batch_sizes

    def infer(self, images: np.ndarray) -> ModelOutputs:
        """uint8 [N, 256, 256, 3] RGB -> ``ModelOutputs`` in px256 (blocking)."""
        check_input_batch(images, LANDMARKER_SPEC)
        try:
            outputs = self._run(images)
        except BackendUnavailable:
            self._ready = False
            raise
        self._ready = True
        return outputs

    def _run(self, images: np.ndarray) -> ModelOutputs:
        return landmarker_outputs(self.runtime.run(images))

    def warm_up(self) -> None:
        self.infer(np.zeros((1, *LANDMARKER_SPEC.input_shape), dtype=np.uint8))


class TritonLandmarker:
    """``InferenceBackend`` on Triton's ``face_landmarker`` model."""

    batch_sizes: tuple[int, ...] = ()

    def __init__(self, settings: Settings) -> None:
        from service.inference.triton_model import TritonModel

        self.name = "triton"
        self.model = TritonModel.from_settings(
            settings, LANDMARKER_SPEC, settings.landmarker_model_name
        )

    def infer(self, images: np.ndarray) -> ModelOutputs:
        return landmarker_outputs(self.model.run(images))  # validates batch and outputs

    def is_ready(self) -> bool:
        return self.model.is_ready()

    def close(self) -> None:
        self.model.close()


def create_landmarker_backend(settings: Settings) -> LandmarkerBackend | TritonLandmarker:
    """The landmark model on ``settings.backend`` (embedded: warmed up)."""
    if settings.backend == "triton":
        return TritonLandmarker(settings)
    options = RuntimeOptions.from_settings(settings)
    if settings.pipeline != "landmarker":
        options = options.capped(EXTRA_PIPELINE_MAX_BUCKET)
    backend = LandmarkerBackend(
        open_runtime(settings.landmarker_model_path, LANDMARKER_SPEC, options)
    )
    backend.warm_up()
    logger.info("loaded %s with %s", settings.landmarker_model_path, backend.name)
    return backend
