"""Request IDs and the access log (pure ASGI middleware, outermost, so it sees every response,
error responses from the exception handlers included).

Each HTTP request gets an ID: the client's ``X-Request-ID`` when it is a sane token (1-128 of
``A-Z a-z 0-9 . _ : -``), else a fresh UUID4 hex. The ID is echoed in the response's
``X-Request-ID`` header, set in ``service.core.logging.request_id`` for every log
record written while the request runs, and written with the access-log line
(``service.access``: method, path, status, duration_ms, client) when
``FACEMESH_ACCESS_LOG`` is on. IDs never become metric labels.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.core.logging import request_id

HEADER = "x-request-id"
_VALID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
access_logger = logging.getLogger("service.access")


def choose_request_id(presented: str | None) -> str:
    if presented and _VALID.fullmatch(presented):
        return presented
    return uuid.uuid4().hex


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp, access_log: bool = True) -> None:
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        presented = None
        for name, value in scope.get("headers", []):
            if name == HEADER.encode():
                presented = value.decode("latin-1")
                break
        rid = choose_request_id(presented)
        # Not reset afterwards on purpose: uvicorn runs each request in its own task (its own
        # context copy), and Starlette's outermost ServerErrorMiddleware logs a crash after
        # this middleware has returned; the record should still carry the ID.
        request_id.set(rid)
        status = 500
        start = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = [(k, v) for k, v in message.get("headers", []) if k != HEADER.encode()]
                headers.append((HEADER.encode(), rid.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if self.access_log:
                client = scope.get("client")
                access_logger.info(
                    "%s %s %d",
                    scope.get("method", "-"),
                    scope.get("path", "-"),
                    status,
                    extra={
                        "method": scope.get("method"),
                        "path": scope.get("path"),
                        "status": status,
                        "duration_ms": round((time.perf_counter() - start) * 1000, 2),
                        "client": client[0] if client else None,
                    },
                )
