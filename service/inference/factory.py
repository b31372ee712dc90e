"""Builds the configured ``InferenceBackend`` from ``Settings``."""

from __future__ import annotations

import importlib

from service.core.config import Settings
from service.inference.base import InferenceBackend


def create_backend(settings: Settings) -> InferenceBackend:
    """Instantiate (and warm up) the backend named by ``settings.backend``: the embedded
    runtime ``settings.runtime`` picks, or a Triton client.

    The Triton backend (``service.inference.triton``) is imported lazily so that the embedded
    backend never needs ``tritonclient``; it must expose ``from_settings(settings)``.
    """
    if settings.backend == "embedded":
        from service.inference.embedded import EmbeddedBackend
        from service.inference.runtime import RuntimeOptions

        backend = EmbeddedBackend.open(settings.model_path, RuntimeOptions.from_settings(settings))
        backend.warm_up()
        return backend
    triton = importlib.import_module("service.inference.triton")
    created: InferenceBackend = triton.from_settings(settings)
    return created


def create_pipeline_backend(settings: Settings, model: str) -> InferenceBackend:
    """The backend for one pipeline: ``create_backend`` for ``attention``; for ``cascade``
    the mesh + iris models on the embedded runtime (``service.inference.cascade``); for
    ``landmarker`` FaceLandmarker's landmark model (``service.inference.landmarker``)."""
    if model == "landmarker":
        from service.inference.landmarker import create_landmarker_backend

        return create_landmarker_backend(settings)
    if model == "cascade":
        from service.inference.cascade import create_cascade_backend

        return create_cascade_backend(settings)
    return create_backend(settings)
