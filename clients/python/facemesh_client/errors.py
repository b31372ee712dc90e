"""One exception class per ``error.code`` the gateway answers with.

Every error body is ``{"error": {"code": str, "message": str}}``; :func:`error_from_response`
turns it into the class registered for its code (unknown codes: the class for the status
family, so a newer server's codes still raise something sensible). Each exception carries
``code``, ``message``, ``status`` (HTTP status; ``None`` for errors inside a WebSocket
session) and ``request_id`` (the response's ``X-Request-ID``).
"""

# Class names are the codes in CamelCase (as in service/core/errors.py), not *Error.
# ruff: noqa: N818

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


class FacemeshError(Exception):
    """Base class of every error this client raises for a server answer."""

    code: str = "error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.status = status
        self.request_id = request_id
        self.retry_after = retry_after

    def __str__(self) -> str:
        extras = [f"HTTP {self.status}"] if self.status is not None else []
        if self.request_id:
            extras.append(f"request {self.request_id}")
        return f"{self.code}: {self.message}" + (f" ({', '.join(extras)})" if extras else "")


# Families: catch these to handle a whole row group of the README's error table.
class InvalidRequest(FacemeshError):
    """The request cannot be served as sent (4xx): fix the input, do not retry."""

    code = "invalid_request"


class InvalidImage(InvalidRequest):
    """An image was rejected: bad bytes, size, mode or multipart."""

    code = "invalid_image"


class ServerError(FacemeshError):
    """The server failed (5xx)."""

    code = "server_error"


class RetryableError(ServerError):
    """503: transient, retried by the client (``Retry-After``) up to ``max_retries``."""

    code = "retryable"


# One class per code of the README's error table.
class BodyTooLarge(InvalidImage):
    code = "body_too_large"


class ImageTooLarge(InvalidImage):
    code = "image_too_large"


class UnsupportedMediaType(InvalidImage):
    code = "unsupported_media_type"


class EmptyBody(InvalidImage):
    code = "empty_body"


class NotAnImage(InvalidImage):
    code = "not_an_image"


class CorruptImage(InvalidImage):
    code = "corrupt_image"


class ImageTooSmall(InvalidImage):
    code = "image_too_small"


class TooManyImages(InvalidImage):
    code = "too_many_images"


class MissingImage(InvalidImage):
    code = "missing_image"


class InvalidMultipart(InvalidImage):
    code = "invalid_multipart"


class UnsupportedImageMode(InvalidImage):
    code = "unsupported_image_mode"


class UnsupportedImageHeader(InvalidImage):
    """The image's header has more segments, chunks or fill bytes than any encoder writes."""

    code = "unsupported_image_header"


class DecodeBudgetExceeded(InvalidImage):
    """The images would take too much memory decoded: send fewer or smaller ones."""

    code = "decode_budget_exceeded"


class BodyTimeout(InvalidRequest):
    """408: the request body came too slowly."""

    code = "body_timeout"


class HeaderTimeout(InvalidRequest):
    """408: the request headers came too slowly."""

    code = "header_timeout"


class HeadersTooLarge(InvalidRequest):
    """431: request line and headers too large, or too many header fields."""

    code = "headers_too_large"


class InvalidHttpRequest(InvalidRequest):
    """400: the server could not parse the HTTP request."""

    code = "invalid_http_request"


class UnsupportedMessage(InvalidRequest):
    """A tracking session got a text message: frames are binary messages."""

    code = "unsupported_message"


class NoFace(InvalidRequest):
    code = "no_face"


class BackendUnavailable(RetryableError):
    code = "backend_unavailable"


class Overloaded(RetryableError):
    code = "overloaded"


class Unauthorized(InvalidRequest):
    code = "unauthorized"


class ValidationError(InvalidRequest):
    code = "validation_error"


class NotFound(InvalidRequest):
    code = "not_found"


class MethodNotAllowed(InvalidRequest):
    code = "method_not_allowed"


class RangeNotSatisfiable(InvalidRequest):
    """416: a ``bytes`` Range on a ``/demo/`` file that is malformed or past its end."""

    code = "range_not_satisfiable"


class HttpError(FacemeshError):
    code = "http_error"


class InternalError(ServerError):
    code = "internal_error"


class SessionClosed(FacemeshError):
    """The server ended a tracking session (not an error body for one frame).

    ``close_code`` is the WebSocket close code: 1013 (try again later: too many sessions, or
    the backend failed), 1008 (the session expired), ...; on the gRPC stream ``grpc_status``
    is the status name instead. ``retryable``: a new session may succeed later (1013,
    ``RESOURCE_EXHAUSTED``, ``UNAVAILABLE``).
    """

    code = "session_closed"

    def __init__(
        self,
        message: str,
        *,
        close_code: int | None,
        grpc_status: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.close_code = close_code
        self.grpc_status = grpc_status

    @property
    def retryable(self) -> bool:
        return self.close_code == 1013 or self.grpc_status in ("RESOURCE_EXHAUSTED", "UNAVAILABLE")


ERROR_CLASSES: dict[str, type[FacemeshError]] = {
    cls.code: cls
    for cls in (
        BodyTooLarge,
        ImageTooLarge,
        UnsupportedMediaType,
        EmptyBody,
        NotAnImage,
        CorruptImage,
        ImageTooSmall,
        TooManyImages,
        MissingImage,
        InvalidMultipart,
        UnsupportedImageMode,
        UnsupportedImageHeader,
        DecodeBudgetExceeded,
        BodyTimeout,
        HeaderTimeout,
        HeadersTooLarge,
        InvalidHttpRequest,
        UnsupportedMessage,
        NoFace,
        BackendUnavailable,
        Overloaded,
        Unauthorized,
        ValidationError,
        NotFound,
        MethodNotAllowed,
        RangeNotSatisfiable,
        HttpError,
        InternalError,
    )
}
"""``error.code`` -> exception class (every code of the README's error table)."""

RETRYABLE_CODES = frozenset({"overloaded", "backend_unavailable"})


def _family(status: int | None) -> type[FacemeshError]:
    if status == 503:
        return RetryableError
    if status is not None and status >= 500:
        return ServerError
    if status is not None and 400 <= status < 500:
        return InvalidRequest
    return FacemeshError


def error_from_body(
    body: Any,
    *,
    status: int | None = None,
    request_id: str | None = None,
    retry_after: float | None = None,
) -> FacemeshError:
    """The exception for a decoded error body (``{"error": {"code", "message"}}``)."""
    detail = body.get("error") if isinstance(body, Mapping) else None
    if not isinstance(detail, Mapping):
        return _family(status)(
            f"unexpected error body: {str(body)[:200]}",
            code="http_error",
            status=status,
            request_id=request_id,
            retry_after=retry_after,
        )
    code = str(detail.get("code", "http_error"))
    message = str(detail.get("message", ""))
    cls = ERROR_CLASSES.get(code) or _family(status)
    return cls(message, code=code, status=status, request_id=request_id, retry_after=retry_after)


def error_from_response(status: int, content: bytes, headers: Mapping[str, str]) -> FacemeshError:
    """The exception for an HTTP error response (any body: non-JSON bodies from proxies too)."""
    request_id = headers.get("x-request-id")
    retry_after = parse_retry_after(headers.get("retry-after"))
    try:
        body: Any = json.loads(content)
    except ValueError:
        text = content[:200].decode("utf-8", "replace")
        return _family(status)(
            f"HTTP {status}: {text}",
            code="http_error",
            status=status,
            request_id=request_id,
            retry_after=retry_after,
        )
    return error_from_body(body, status=status, request_id=request_id, retry_after=retry_after)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header in delta-seconds form (``None`` otherwise: an
    HTTP-date, which this gateway never sends, falls back to the client's default delay)."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
