"""The one exception -> HTTP / WebSocket / gRPC mapping."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from service.core.error_handlers import install_error_handlers, status_for, stream_ending
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


def _app(exc: Exception) -> TestClient:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/boom")
    async def boom() -> None:
        raise exc

    @app.get("/typed")
    async def typed(n: int) -> int:
        return n

    return TestClient(app, raise_server_exceptions=False)


def test_service_errors_use_the_envelope() -> None:
    response = _app(InvalidImage("not_an_image", "nothing there")).get("/boom")
    assert response.status_code == 422
    assert response.json() == {"error": {"code": "not_an_image", "message": "nothing there"}}


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


def test_unexpected_errors_are_500_without_details() -> None:
    response = _app(RuntimeError("secret internals")).get("/boom")
    assert response.status_code == 500
    assert response.json() == {
        "error": {"code": "internal_error", "message": "internal server error"}
    }


def test_framework_errors_use_the_envelope() -> None:
    client = _app(RuntimeError())
    invalid = client.get("/typed", params={"n": "x"})
    assert invalid.status_code == 422
    assert invalid.json()["error"]["code"] == "validation_error"
    assert client.get("/nowhere").json()["error"]["code"] == "not_found"
    assert client.post("/typed").json()["error"]["code"] == "method_not_allowed"
