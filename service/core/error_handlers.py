"""The one place where exceptions become HTTP responses, WebSocket close codes and gRPC statuses.

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

On the tracking streams (WebSocket ``/v1/track``, gRPC ``Track``) an unusable frame is answered
in-band with the same ``{code, message}`` and the stream goes on; the errors that end a stream
map as ``STREAM_ENDINGS`` says: WebSocket close code and gRPC status name.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError, WebSocketRequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from service import metrics
from service.core.errors import (
    BackendUnavailable,
    ClientDisconnected,
    FirstFrameTimeout,
    InvalidImage,
    InvalidParameter,
    PayloadTooLarge,
    RequestTimeout,
    ServiceError,
    SessionExpired,
    TooManySessions,
    Unauthorized,
    UnsupportedMediaType,
)

logger = logging.getLogger(__name__)

# Most specific first: the first isinstance match wins.
STATUS_BY_TYPE: tuple[tuple[type[ServiceError], int], ...] = (
    (PayloadTooLarge, 413),
    (UnsupportedMediaType, 415),
    (InvalidImage, 422),
    (InvalidParameter, 422),
    (RequestTimeout, 408),
    (BackendUnavailable, 503),
    (Unauthorized, 401),
)

# Errors that end a stream: (type, WebSocket close code, gRPC status name), most specific
# first. 1008 policy violation, 1013 try again later (RFC 6455 / IANA registry).
STREAM_ENDINGS: tuple[tuple[type[ServiceError], int, str], ...] = (
    (TooManySessions, 1013, "RESOURCE_EXHAUSTED"),
    (SessionExpired, 1008, "ABORTED"),
    (BackendUnavailable, 1013, "UNAVAILABLE"),
    (Unauthorized, 1008, "UNAUTHENTICATED"),
    (InvalidParameter, 1008, "INVALID_ARGUMENT"),
    (FirstFrameTimeout, 1008, "DEADLINE_EXCEEDED"),
)
# A stream error nobody mapped: the server's fault.
_WS_INTERNAL_ERROR, _GRPC_INTERNAL = 1011, "INTERNAL"

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}

# Seconds a client should wait before retrying a 503 (backend down or restarting).
RETRY_AFTER_S = 1


def status_for(exc: ServiceError) -> int:
    """HTTP status for a service exception (500 for an unmapped subclass)."""
    for exc_type, status in STATUS_BY_TYPE:
        if isinstance(exc, exc_type):
            return status
    return 500


def stream_ending(exc: ServiceError) -> tuple[int, str]:
    """(WebSocket close code, gRPC status name) for an error that ends a tracking stream."""
    for exc_type, close_code, grpc_status in STREAM_ENDINGS:
        if isinstance(exc, exc_type):
            return close_code, grpc_status
    return _WS_INTERNAL_ERROR, _GRPC_INTERNAL


def error_response(status: int, code: str, message: str) -> JSONResponse:
    metrics.ERRORS.labels(code=code).inc()
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


# nginx's "client closed request": only ever seen in our own metrics and logs.
CLIENT_CLOSED_STATUS = 499


async def _client_disconnected(request: Request, exc: Exception) -> Response:
    """The client went away mid-request (e.g. dropped its upload): not a server error."""
    message = exc.message if isinstance(exc, ClientDisconnected) else "client disconnected"
    logger.info("%s on %s %s", message, request.method, request.url.path)
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
        logger.info("%s from %s on %s: %s", exc.code, client, request.url.path, exc.message)
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
    return error_response(500, "internal_error", "internal server error")


def install_error_handlers(app: FastAPI) -> None:
    """Register every handler above on ``app``."""
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(ClientDisconnect, _client_disconnected)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(WebSocketRequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
