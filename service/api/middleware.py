"""Pure ASGI middleware: security headers on every response, and per-endpoint request metrics.

``SecurityHeadersMiddleware`` adds ``SECURITY_HEADERS`` to every response of the app (a
WebSocket handshake's JSON refusal included) that does not set them itself: the browser must
not guess a content type (``nosniff``), and no page of the gateway (the demo included) may be
framed by another site (``frame-ancestors 'none'``, and ``X-Frame-Options`` for browsers that
predate it). Answers written below the app (``service.api.http_protocol``,
``service.api.websocket_protocol``) and the 500 answer (written outside every middleware) add
the same list themselves.

``RequestMetricsMiddleware`` records per-endpoint request metrics (count by status, latency,
in-flight). Pure ASGI so it sees error responses produced by the exception handlers.

WebSocket sessions (``/v1/track``) are counted by handshake outcome (101 accepted, else the
status of the JSON refusal: 401, 422; 403 for a close before acceptance) and are in flight
while open; their duration is not observed (a session lasts minutes, the latency histogram is
for requests)."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service import metrics

SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Content-Security-Policy", "frame-ancestors 'none'"),
)
_SECURITY_RAW = tuple((name.lower().encode(), value.encode()) for name, value in SECURITY_HEADERS)
_STARTS = frozenset({"http.response.start", "websocket.http.response.start"})


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] in _STARTS:
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in _SECURITY_RAW if h[0] not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class RequestMetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        endpoint = metrics.endpoint_label(scope["path"])
        status = "500"

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = str(message["status"])
            await send(message)

        in_flight = metrics.IN_FLIGHT.labels(endpoint=endpoint)
        in_flight.inc()
        start = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_status)
        finally:
            in_flight.dec()
            metrics.REQUEST_SECONDS.labels(endpoint=endpoint).observe(time.perf_counter() - start)
            metrics.REQUESTS.labels(endpoint=endpoint, status=status).inc()

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = metrics.endpoint_label(scope["path"])
        status = "403"  # closed (or crashed) before the handshake was accepted

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "websocket.accept":
                status = "101"
            elif message["type"] == "websocket.http.response.start":
                status = str(message["status"])
            await send(message)

        in_flight = metrics.IN_FLIGHT.labels(endpoint=endpoint)
        in_flight.inc()
        try:
            await self.app(scope, receive, send_with_status)
        finally:
            in_flight.dec()
            metrics.REQUESTS.labels(endpoint=endpoint, status=status).inc()
