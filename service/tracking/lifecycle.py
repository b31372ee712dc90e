"""Builds the frame pipeline, the tracking-session store and (optionally) the gRPC server
with the app's lifespan, and tears them down with it.

The detector shares the landmark model's backend choice (``Settings.backend``). When it
cannot be loaded (model file not built), the gateway still serves the crop endpoints; frame
routes answer 503 ``backend_unavailable`` until it is available.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from service.core.config import Settings
from service.core.errors import BackendUnavailable
from service.frames import FramePipeline
from service.inference.base import InferenceBackend, ModelOutputs
from service.inference.batcher import ModelCaller, detector_caller
from service.inference.detector import DetectorBackend, create_detector
from service.tracking.sessions import SessionStore

logger = logging.getLogger(__name__)


async def start_frames(
    app: FastAPI,
    settings: Settings,
    mesh: InferenceBackend,
    detector: DetectorBackend | None = None,
    mesh_calls: ModelCaller[ModelOutputs] | None = None,
) -> None:
    """Set ``app.state.frames``, ``app.state.sessions`` and, with ``grpc_enabled``,
    ``app.state.grpc_server`` / ``app.state.grpc_port``. ``mesh_calls``: the landmark
    model's shared caller (the crops pipeline's); the detector gets its own here."""
    if detector is None:
        try:
            detector = await run_in_threadpool(create_detector, settings)
        except BackendUnavailable as exc:
            logger.warning("face detector unavailable, /v1/frame will answer 503: %s", exc)
    app.state.detector_calls = detector_caller(detector, settings) if detector is not None else None
    app.state.frames = FramePipeline(mesh, detector, settings, mesh_calls, app.state.detector_calls)
    app.state.sessions = SessionStore(
        settings.tracking_max_sessions, settings.tracking_session_ttl_s
    )
    app.state.grpc_server = None
    if settings.grpc_enabled:
        from service.tracking.grpc_server import FaceTrackingService, start_grpc_server

        service = FaceTrackingService(
            app.state.frames,
            app.state.sessions,
            settings.tracking_max_faces,
            settings.max_faces,
            api_keys=tuple(key.get_secret_value() for key in settings.api_keys),
        )
        app.state.grpc_server, app.state.grpc_port = await start_grpc_server(
            service, settings.host, settings.grpc_port
        )


async def stop_frames(app: FastAPI, grace_s: float = 5.0) -> None:
    """Stop the gRPC server (letting streams finish for ``grace_s``), then the pipeline."""
    server = getattr(app.state, "grpc_server", None)
    if server is not None:
        await server.stop(grace_s)
    frames = getattr(app.state, "frames", None)
    if frames is not None:
        await run_in_threadpool(frames.close)
    detector_calls = getattr(app.state, "detector_calls", None)
    if detector_calls is not None:
        await detector_calls.aclose()
