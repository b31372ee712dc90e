"""Builds the FastAPI app: settings, lifespan (backend + pipeline), handlers, routers, /metrics."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.concurrency import run_in_threadpool

from service import metrics
from service.api.main import api_router
from service.api.middleware import RequestMetricsMiddleware
from service.api.request_id import HEADER as REQUEST_ID_HEADER
from service.api.request_id import RequestIdMiddleware
from service.core.admission import AdmissionController
from service.core.config import Settings, get_settings
from service.core.error_handlers import install_error_handlers
from service.core.logging import configure_logging
from service.inference.base import InferenceBackend, ModelOutputs
from service.inference.batcher import ModelCaller, mesh_caller
from service.inference.factory import create_pipeline_backend
from service.pipeline import FaceMeshPipeline
from service.tracking.lifecycle import start_frames, stop_frames

API_VERSION = "1.0.0"


def create_app(
    settings: Settings | None = None,
    backend: InferenceBackend | None = None,
    extra_backends: dict[str, InferenceBackend] | None = None,
) -> FastAPI:
    """The gateway app. ``backend`` overrides the one ``settings.backend`` would build for the
    default pipeline (``settings.model``); ``extra_backends`` (pipeline name -> backend) those
    of the further pipelines in ``settings.models``."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        chosen = (
            backend
            if backend is not None
            else await run_in_threadpool(create_pipeline_backend, settings, settings.model)
        )
        # One micro-batching caller (and executor) per model, shared by every endpoint.
        callers: dict[str, ModelCaller[ModelOutputs]] = {
            settings.model: mesh_caller(chosen, settings, settings.model)
        }
        pipeline = FaceMeshPipeline(chosen, settings, settings.model, callers[settings.model])
        app.state.pipeline = pipeline
        app.state.pipelines = {settings.model: pipeline}
        for name in settings.loaded_models[1:]:  # selectable per request with ?model=
            extra = (extra_backends or {}).get(name)
            if extra is None:
                extra = await run_in_threadpool(create_pipeline_backend, settings, name)
            callers[name] = mesh_caller(extra, settings, name)
            app.state.pipelines[name] = FaceMeshPipeline(extra, settings, name, callers[name])
        await start_frames(app, settings, chosen, mesh_calls=callers[settings.model])
        # Created here, inside the serving event loop (asyncio primitives bind to one loop).
        app.state.admission = AdmissionController(
            settings.max_in_flight, settings.max_queue, settings.queue_timeout_s
        )
        try:
            yield
        finally:
            await stop_frames(app)
            for each in app.state.pipelines.values():
                each.close()
            for caller in callers.values():
                await caller.aclose()
            metrics.mark_process_dead(os.getpid(), settings.prometheus_multiproc_dir)

    app = FastAPI(
        title="Face mesh gateway",
        version=API_VERSION,
        description="MediaPipe Attention Mesh (478 landmarks + regions) for face crops.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    configure_logging(settings.log_level, settings.log_format)  # also in spawned workers
    install_error_handlers(app)
    app.add_middleware(RequestMetricsMiddleware)
    if settings.cors_allow_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_allow_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", "Authorization", "X-API-Key", REQUEST_ID_HEADER],
            expose_headers=[REQUEST_ID_HEADER, "Retry-After"],
        )
    app.add_middleware(RequestIdMiddleware, access_log=settings.access_log)  # outermost
    app.include_router(api_router)
    app.mount("/metrics", make_metrics(settings))
    return app


def make_metrics(settings: Settings) -> FastAPI:
    """The prometheus_client ASGI app (typed as an ASGI app for ``mount``)."""
    return metrics.make_metrics_app(settings.prometheus_multiproc_dir)  # type: ignore[return-value]
