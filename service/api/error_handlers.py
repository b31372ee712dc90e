"""The FastAPI exception handlers: every exception becomes one JSON error response.

Every error response has the body ``{"error": {"code": str, "message": str}}``. Status codes:

=========================  ======  =============================================
exception                  status  codes
=========================  ======  =============================================
PayloadTooLarge            413     body_too_large, image_too_large
UnsupportedMediaType       415     unsupported_media_type
InvalidImage               422     empty_body, not_an_image, corrupt_image, ...
InvalidParameter           422     validation_error (a stream option out of range)
RequestTimeout             408     body_timeout (+ Connection: close; logged at INFO)
ClientDisconnected         499     nobody reads it: logged at INFO, counted apart
BackendUnavailable         503     backend_unavailable, overloaded (+ Retry-After)
Unauthorized               401     unauthorized (+ WWW-Authenticate)
RequestValidationError     422     validation_error
HTTPException (Starlette)  as is   not_found, method_not_allowed, http_error
anything else              500     internal_error (logged with traceback)
=========================  ======  =============================================

The tables themselves (``STATUS_BY_TYPE``, and ``STREAM_ENDINGS`` for the tracking streams:
WebSocket close code and gRPC status name) live in ``service.core.errors``, free of any web
framework; this module installs the FastAPI handlers that answer with them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError, WebSocketRequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from service import metrics
from service.api.middleware import SECURITY_HEADERS
from service.core.errors import ClientDisconnected, ServiceError, status_for
from service.core.logging import refusal_logger

logger = logging.getLogger(__name__)
# Slow or vanished clients (408, 499): anyone can cause them, so their lines are rate-limited.
refusals = refusal_logger(f"{__name__}.refusals")

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}

# Seconds a client should wait before retrying a 503 (backend down or restarting).
RETRY_AFTER_S = 1


def error_response(
    status: int, code: str, message: str, headers: Iterable[tuple[str, str]] = ()
) -> JSONResponse:
    metrics.ERRORS.labels(code=code).inc()
    body = {"error": {"code": code, "message": message}}
    return JSONResponse(body, status_code=status, headers=dict(headers))


# nginx's "client closed request": only ever seen in our own metrics and logs.
CLIENT_CLOSED_STATUS = 499


async def _client_disconnected(request: Request, exc: Exception) -> Response:
    """The client went away mid-request (e.g. dropped its upload): not a server error."""
    message = exc.message if isinstance(exc, ClientDisconnected) else "client disconnected"
    refusals.info("%s on %s %s", message, request.method, request.url.path)
    metrics.CLIENT_DISCONNECTS.labels(endpoint=metrics.endpoint_label(request.url.path)).inc()
    return Response(status_code=CLIENT_CLOSED_STATUS)


async def _service_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServiceError)
    if isinstance(exc, ClientDisconnected):
        return await _client_disconnected(request, exc)
    status = status_for(exc)
    if status >= 500:
        logger.warning("%s: %s", exc.code, exc.message)
    elif status == 408:
        client = request.client.host if request.client else "-"
        refusals.info("%s from %s on %s: %s", exc.code, client, request.url.path, exc.message)
    response = error_response(status, exc.code, exc.message)
    if status == 408:  # the rest of the body may still be on its way: do not reuse
        response.headers["Connection"] = "close"
    if status == 503:  # BackendUnavailable: transient, tell clients when to try again
        response.headers["Retry-After"] = str(RETRY_AFTER_S)
    if status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    """422 on HTTP; on a WebSocket handshake (bad query) the same JSON body as its refusal
    (ASGI ``websocket.http.response``), instead of a bare 403."""
    assert isinstance(exc, (RequestValidationError, WebSocketRequestValidationError))
    parts = [
        f"{'.'.join(str(p) for p in err.get('loc', ()))}: {err.get('msg')}" for err in exc.errors()
    ]
    return error_response(422, "validation_error", "; ".join(parts) or "invalid request")


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    response = error_response(exc.status_code, code, str(exc.detail))
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    # Written by Starlette's outermost middleware, outside SecurityHeadersMiddleware.
    return error_response(500, "internal_error", "internal server error", SECURITY_HEADERS)


def install_error_handlers(app: FastAPI) -> None:
    """Register every handler above on ``app``."""
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(ClientDisconnect, _client_disconnected)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(WebSocketRequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
