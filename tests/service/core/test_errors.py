"""The pure tables: exception type -> HTTP status, and -> WebSocket close code / gRPC status."""

from __future__ import annotations

import pytest

from service.core.errors import (
    BackendUnavailable,
    FirstFrameTimeout,
    InvalidImage,
    InvalidParameter,
    PayloadTooLarge,
    ServiceError,
    SessionExpired,
    TooManySessions,
    Unauthorized,
    UnsupportedMediaType,
    status_for,
    stream_ending,
)


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (InvalidImage("not_an_image", "m"), 422),
        (PayloadTooLarge("body_too_large", "m"), 413),
        (UnsupportedMediaType("unsupported_media_type", "m"), 415),
        (BackendUnavailable("m"), 503),
        (InvalidParameter("m"), 422),
        (ServiceError("other", "m"), 500),
    ],
)
def test_status_for_each_exception_type(error: ServiceError, status: int) -> None:
    assert status_for(error) == status


@pytest.mark.parametrize(
    ("error", "ending"),
    [
        (TooManySessions(4), (1013, "RESOURCE_EXHAUSTED")),
        (SessionExpired(7), (1008, "ABORTED")),
        (BackendUnavailable("m"), (1013, "UNAVAILABLE")),
        (Unauthorized("m"), (1008, "UNAUTHENTICATED")),
        (InvalidParameter("m"), (1008, "INVALID_ARGUMENT")),
        (FirstFrameTimeout(1.0), (1008, "DEADLINE_EXCEEDED")),
        (ServiceError("other", "m"), (1011, "INTERNAL")),
    ],
)
def test_stream_ending_for_each_exception_type(
    error: ServiceError, ending: tuple[int, str]
) -> None:
    assert stream_ending(error) == ending
