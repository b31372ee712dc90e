"""Typed exceptions raised by the service and the pure tables that map them to the wire.

Each exception carries a stable machine-readable ``code`` (the ``error.code`` in responses)
and a human-readable message. ``STATUS_BY_TYPE`` gives each type its HTTP status and
``STREAM_ENDINGS`` the WebSocket close code and gRPC status of the errors that end a tracking
stream: plain data, no web framework. ``service.api.error_handlers`` installs the FastAPI
handlers that read the first table; the WebSocket route and the gRPC servicer read the second.
"""

from __future__ import annotations


class ServiceError(Exception):
    """Base class: ``code`` is stable and documented, ``message`` is for humans."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class InvalidImage(ServiceError):  # noqa: N818 (a name clients know)
    """The request's image(s) cannot be used: bad bytes, bad size, bad mode, bad multipart."""


class PayloadTooLarge(InvalidImage):
    """The body or an image's pixel count exceeds a configured limit."""


class UnsupportedMediaType(InvalidImage):
    """The request's Content-Type (or a multipart part's) is not an accepted image type."""


class RequestTimeout(ServiceError):  # noqa: N818
    """The client sent the request body too slowly (stalled or trickling upload): 408."""

    def __init__(self, message: str) -> None:
        super().__init__("body_timeout", message)


class ClientDisconnected(ServiceError):  # noqa: N818
    """The client closed the connection before its request was read: nobody to answer. Not
    an error of ours: logged at INFO and counted apart (``facemesh_client_disconnects_total``)."""

    def __init__(self, message: str = "the client disconnected before the body was read") -> None:
        super().__init__("client_disconnected", message)


class BackendUnavailable(ServiceError):  # noqa: N818
    """The inference backend cannot run the model right now."""

    def __init__(self, message: str, code: str = "backend_unavailable") -> None:
        super().__init__(code, message)


class Overloaded(BackendUnavailable):
    """Too many requests in flight and queued (``service.core.admission``): 503, retry later."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="overloaded")


class Unauthorized(ServiceError):  # noqa: N818 (same family of names as above)
    """A /v1 request without a valid API key while API keys are configured."""

    def __init__(self, message: str) -> None:
        super().__init__("unauthorized", message)


class TooManySessions(BackendUnavailable):
    """Every tracking-session slot of this process is taken (transient: try again later)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"all {limit} tracking sessions are in use", code="too_many_sessions")


class SessionExpired(ServiceError):  # noqa: N818 (like the other service errors)
    """A tracking session was idle longer than its time-to-live (or closed) and is gone."""

    def __init__(self, session_id: int) -> None:
        super().__init__("session_expired", f"tracking session {session_id} expired")


class InvalidParameter(ServiceError):  # noqa: N818
    """A request parameter outside its documented range, or a stream message that cannot be
    read (a tracking stream's first-frame options, bytes that are not a ``Frame``): 422 on
    HTTP, ``INVALID_ARGUMENT`` on gRPC."""

    def __init__(self, message: str) -> None:
        super().__init__("validation_error", message)


class FirstFrameTimeout(ServiceError):  # noqa: N818
    """A gRPC tracking stream sent no frame within ``tracking_first_frame_timeout_s``."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__(
            "first_frame_timeout", f"no frame within {timeout_s:g} s of the stream's start"
        )


# Every code a client can receive in ``error.code``; metrics pre-create one series per code.
ERROR_CODES: tuple[str, ...] = (
    "empty_body",
    "body_too_large",
    "unsupported_media_type",
    "invalid_multipart",
    "missing_image",
    "too_many_images",
    "not_an_image",
    "corrupt_image",
    "image_too_small",
    "image_too_large",
    "unsupported_image_mode",
    "unsupported_image_header",
    "decode_budget_exceeded",
    "body_timeout",
    "header_timeout",
    "headers_too_large",
    "invalid_http_request",
    "unsupported_message",
    "backend_unavailable",
    "overloaded",
    "unauthorized",
    "validation_error",
    "not_found",
    "method_not_allowed",
    "range_not_satisfiable",
    "http_error",
    "internal_error",
)


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
