"""The one exception -> HTTP mapping."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from service.core.error_handlers import install_error_handlers, status_for
from service.core.errors import (
    BackendUnavailable,
    InvalidImage,
    NoFaceFound,
    PayloadTooLarge,
    ServiceError,
    UnsupportedMediaType,
)


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (InvalidImage("not_an_image", "m"), 422),
        (PayloadTooLarge("body_too_large", "m"), 413),
        (UnsupportedMediaType("unsupported_media_type", "m"), 415),
        (NoFaceFound("no_face", "m"), 404),
        (BackendUnavailable("m"), 503),
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
    response = _app(NoFaceFound("no_face", "nothing there")).get("/boom")
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "no_face", "message": "nothing there"}}


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
