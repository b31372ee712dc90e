"""Pure ASGI middleware recording per-endpoint request metrics (count by status, latency,
in-flight). Pure ASGI so it sees error responses produced by the exception handlers."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service import metrics


class RequestMetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
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
