"""``service/api/main.py``: every /v1 route (HTTP and WebSocket) sits behind the API-key
check, the health routes do not (an app without its lifespan: the key check answers before
anything that needs the models)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketDenialResponse

from service.core.config import Settings
from service.main import create_app


@pytest.fixture(scope="module")
def keyed() -> TestClient:
    return TestClient(create_app(Settings(api_keys="secret-key")))


def test_every_documented_v1_route_needs_a_key(keyed: TestClient) -> None:
    paths = keyed.get("/openapi.json").json()["paths"]
    v1 = [path for path in paths if path.startswith("/v1/")]
    assert {"/v1/crop", "/v1/crops", "/v1/frame"} <= set(v1)
    for path in v1:
        refused = keyed.post(path, content=b"x", headers={"Content-Type": "image/png"})
        assert refused.status_code == 401, path
        assert refused.json()["error"]["code"] == "unauthorized"


def test_the_tracking_websocket_needs_a_key(keyed: TestClient) -> None:
    with (
        pytest.raises(WebSocketDenialResponse) as refused,
        keyed.websocket_connect("/v1/track") as websocket,
    ):
        websocket.receive_text()
    assert refused.value.status_code == 401


def test_health_routes_need_none(keyed: TestClient) -> None:
    assert keyed.get("/healthz").status_code == 200
