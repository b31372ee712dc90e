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

import numpy as np

from service.contract import CASCADE_MESH_SPEC, IRIS_SPEC, ModelOutputs
from service.core.config import Settings
from service.core.memory import EXTRA_PIPELINE_MAX_BATCH_SIZE
from service.inference.base import InProcessBackend
from service.inference.runtime import Runtime, RuntimeOptions, open_runtime
from service.processing.iris_refinement import assemble_outputs, crop_eyes, eye_rois

logger = logging.getLogger(__name__)


class CascadeBackend(InProcessBackend):
    """``InferenceBackend`` for the cascade: mesh model, eye crops, iris model, merge."""

    def __init__(self, mesh: Runtime, iris: Runtime) -> None:
        super().__init__(mesh.name)
        self._mesh = mesh
        self._iris = iris

    @property
    def batch_sizes(self) -> tuple[int, ...]:
        """The mesh model's (the iris model gets 2N rows)."""
        return self._mesh.batch_sizes

    def _run(self, images: np.ndarray) -> ModelOutputs:
        mesh = self._mesh.run(images)
        rois = eye_rois(mesh["mesh"])
        iris = self._iris.run(crop_eyes(images, rois))
        return assemble_outputs(
            mesh["mesh"], mesh["face_score"], rois, iris["eye_contour"], iris["iris"]
        )


def create_cascade_backend(settings: Settings) -> CascadeBackend:
    """The cascade on the embedded runtime ``settings`` pick, from
    ``settings.cascade_mesh_path`` and ``settings.cascade_iris_path`` (warmed up)."""
    options = RuntimeOptions.from_settings(settings)
    if settings.pipeline != "cascade":
        # A pipeline picked per request (?model=cascade) compiles only the smaller batch sizes:
        # each compiled size costs memory (docs/performance.md).
        options = options.capped(EXTRA_PIPELINE_MAX_BATCH_SIZE)
    backend = CascadeBackend(
        open_runtime(settings.cascade_mesh_path, CASCADE_MESH_SPEC, options),
        open_runtime(settings.cascade_iris_path, IRIS_SPEC, options),
    )
    backend.warm_up()
    logger.info("cascade loaded (%s, %s)", settings.cascade_mesh_path, settings.cascade_iris_path)
    return backend
