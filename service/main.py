"""Assembles the FastAPI app: lifespan (``service.lifespan``), handlers, middleware, routers."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.exceptions import HTTPException
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from service import metrics
from service.api.error_handlers import install_error_handlers
from service.api.main import api_router
from service.api.middleware import RequestMetricsMiddleware, SecurityHeadersMiddleware
from service.api.openapi import document_api_keys, document_limits
from service.api.request_id import HEADER as REQUEST_ID_HEADER
from service.api.request_id import RequestIdMiddleware
from service.core.config import Settings, get_settings
from service.core.logging import configure_logging
from service.demo import mount_demo
from service.inference.base import InferenceBackend
from service.lifespan import build_services, close_services

API_VERSION = "1.0.0"


def create_app(
    settings: Settings | None = None, backends: dict[str, InferenceBackend] | None = None
) -> FastAPI:
    """The gateway app: lifespan, error handlers, middleware, routers and ``/metrics``.
    ``backends`` (pipeline name -> backend) replaces the backends ``settings`` would build."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = await build_services(settings, backends)
        app.state.services = services
        try:
            yield
        finally:
            await close_services(services)
            metrics.mark_process_dead(os.getpid(), settings.prometheus_multiproc_dir)

    app = FastAPI(
        title="Face mesh gateway",
        version=API_VERSION,
        description="MediaPipe Attention Mesh (478 landmarks + regions) for face crops.",
        lifespan=lifespan,
        # No trailing-slash redirects: /v1/crop/ is a 404 JSON, never a 307 to a Location
        # built from the request's Host header (before the API key was even checked).
        redirect_slashes=False,
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
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(RequestIdMiddleware, access_log=settings.access_log)  # outermost
    app.include_router(api_router)
    document_limits(app, settings)
    if settings.api_keys:
        document_api_keys(app)
    exposition = _ReadOnly(make_metrics(settings))
    # Served at /metrics itself (a mount alone answers /metrics with a 307 to /metrics/);
    # /metrics/ keeps working for scrapers configured with the slash.
    app.router.routes.append(
        Route("/metrics", endpoint=_AsgiEndpoint(exposition), include_in_schema=False)
    )
    app.mount("/metrics", exposition)
    mount_demo(app, settings)
    return app


class _ReadOnly:
    """An HTTP ASGI app that answers only GET and HEAD (prometheus_client's answers every
    method with 200); anything else is a 405 JSON error with ``Allow``."""

    METHODS = ("GET", "HEAD")

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # a WebSocket handshake to /metrics/: refused (403)
            await send({"type": "websocket.close", "code": 1008})
            return
        if scope["method"] not in self.METHODS:
            raise HTTPException(405, headers={"Allow": ", ".join(self.METHODS)})
        await self.app(scope, receive, send)


class _AsgiEndpoint:
    """Wraps an ASGI callable so that ``Route`` runs it as an app (it does that for any
    endpoint that is not a plain function)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def make_metrics(settings: Settings) -> ASGIApp:
    """The prometheus_client ASGI app."""
    return metrics.make_metrics_app(settings.prometheus_multiproc_dir)
