"""FaceLandmarker's blendshape model: 146 points of a face -> 52 scores.

The model (``contract.BLENDSHAPES_SPEC``, ``make landmarker-models``) runs embedded on the
runtime layer (OpenVINO or ONNX Runtime, float32 input) or on Triton (``face_blendshapes``,
the same backend as the landmark model). Both are a ``BlendshapeBackend``: float32
[N, 146, 2] points in, float32 [N, 52] scores out (``contract.BLENDSHAPE_NAMES`` order).
What points it reads: ``service.processing.blendshapes``.
"""

from __future__ import annotations

import logging
from typing import Protocol, runtime_checkable

import numpy as np

from service.contract import BLENDSHAPES_SPEC
from service.core.config import Settings
from service.inference.base import check_input_batch
from service.inference.runtime import Runtime, RuntimeOptions, open_runtime

logger = logging.getLogger(__name__)

OUTPUT = "blendshapes"


@runtime_checkable
class BlendshapeBackend(Protocol):
    """Runs the blendshape model; ``batch_sizes`` as ``InferenceBackend.batch_sizes``."""

    name: str

    @property
    def batch_sizes(self) -> tuple[int, ...]: ...

    def scores(self, points: np.ndarray) -> np.ndarray:
        """float32 [N, 146, 2] -> float32 [N, 52] (blocking); ``BackendUnavailable``."""
        ...

    def close(self) -> None: ...


def warm_up_points() -> np.ndarray:
    """One face's worth of spread-out points (all-equal points have no scale to divide by)."""
    return (
        np.random.default_rng(0)
        .uniform(0, 100, (1, *BLENDSHAPES_SPEC.input_shape))
        .astype(np.float32)
    )


class EmbeddedBlendshapes:
    """``BlendshapeBackend`` on a ``Runtime``."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.name = runtime.name

    @property
    def batch_sizes(self) -> tuple[int, ...]:
        return self.runtime.batch_sizes

    def scores(self, points: np.ndarray) -> np.ndarray:
        check_input_batch(points, BLENDSHAPES_SPEC)
        return self.runtime.run(points)[OUTPUT]

    def close(self) -> None:
        pass


class TritonBlendshapes:
    """``BlendshapeBackend`` on Triton's ``face_blendshapes`` model."""

    batch_sizes: tuple[int, ...] = ()

    def __init__(self, settings: Settings) -> None:
        from service.inference.triton_model import TritonModel

        self.name = "triton"
        self.model = TritonModel.from_settings(
            settings, BLENDSHAPES_SPEC, settings.blendshapes_model_name
        )

    def scores(self, points: np.ndarray) -> np.ndarray:
        return self.model.run(points)[OUTPUT]  # validates the batch and the output, once

    def close(self) -> None:
        self.model.close()


def create_blendshapes(settings: Settings) -> BlendshapeBackend:
    """The blendshape model on ``settings.backend`` (embedded: warmed up). Raises
    ``BackendUnavailable`` when its file is missing (embedded)."""
    if settings.backend == "triton":
        return TritonBlendshapes(settings)
    runtime = open_runtime(
        settings.blendshapes_model_path, BLENDSHAPES_SPEC, RuntimeOptions.from_settings(settings)
    )
    backend = EmbeddedBlendshapes(runtime)
    backend.scores(warm_up_points())
    logger.info("loaded %s with %s", settings.blendshapes_model_path, runtime.name)
    return backend
