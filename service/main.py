"""Builds the FastAPI app: settings, lifespan (backend + pipeline), handlers, routers, /metrics."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from service import metrics
from service.api.main import api_router
from service.api.middleware import RequestMetricsMiddleware
from service.core.config import Settings, get_settings
from service.core.error_handlers import install_error_handlers
from service.inference.base import InferenceBackend
from service.inference.factory import create_backend
from service.pipeline import FaceMeshPipeline
from service.tracking.lifecycle import start_frames, stop_frames

API_VERSION = "1.0.0"


def create_app(
    settings: Settings | None = None, backend: InferenceBackend | None = None
) -> FastAPI:
    """The gateway app. ``backend`` overrides the one ``settings.backend`` would build."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        chosen = (
            backend if backend is not None else await run_in_threadpool(create_backend, settings)
        )
        pipeline = FaceMeshPipeline(chosen, settings)
        app.state.pipeline = pipeline
        await start_frames(app, settings, chosen)
        try:
            yield
        finally:
            await stop_frames(app)
            pipeline.close()
            metrics.mark_process_dead(os.getpid(), settings.prometheus_multiproc_dir)

    app = FastAPI(
        title="Face mesh gateway",
        version=API_VERSION,
        description="MediaPipe Attention Mesh (478 landmarks + regions) for face crops.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    install_error_handlers(app)
    app.add_middleware(RequestMetricsMiddleware)
    app.include_router(api_router)
    app.mount("/metrics", make_metrics(settings))
    return app


def make_metrics(settings: Settings) -> FastAPI:
    """The prometheus_client ASGI app (typed as an ASGI app for ``mount``)."""
    return metrics.make_metrics_app(settings.prometheus_multiproc_dir)  # type: ignore[return-value]
