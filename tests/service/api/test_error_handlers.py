"""The FastAPI handlers answer every exception with the JSON error envelope."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from service.api.error_handlers import install_error_handlers
from service.core.errors import InvalidImage


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


def test_unexpected_errors_are_500_without_details() -> None:
    response = _app(RuntimeError("secret internals")).get("/boom")
    assert response.status_code == 500
    assert response.json() == {
        "error": {"code": "internal_error", "message": "internal server error"}
    }
    # Written outside every middleware: the handler adds the security headers itself.
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"] == "frame-ancestors 'none'"


def test_framework_errors_use_the_envelope() -> None:
    client = _app(RuntimeError())
    invalid = client.get("/typed", params={"n": "x"})
    assert invalid.status_code == 422
    assert invalid.json()["error"]["code"] == "validation_error"
    assert client.get("/nowhere").json()["error"]["code"] == "not_found"
    assert client.post("/typed").json()["error"]["code"] == "method_not_allowed"
