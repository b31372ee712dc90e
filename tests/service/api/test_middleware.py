"""``service/api/middleware.py``: request metrics by endpoint and status, in flight while a
request runs, WebSocket handshakes by outcome; on a real Starlette app in the middleware."""

from __future__ import annotations

from prometheus_client import REGISTRY
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket, WebSocketDisconnect

from service.api.middleware import RequestMetricsMiddleware

IN_FLIGHT = "facemesh_http_requests_in_flight"


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def _crop(_: Request) -> PlainTextResponse:
    """Answers with the in-flight gauge as it reads during this request."""
    return PlainTextResponse(str(_sample(IN_FLIGHT, endpoint="/v1/crop")))


async def _boom(_: Request) -> PlainTextResponse:
    raise RuntimeError("boom")


async def _track(websocket: WebSocket) -> None:
    if websocket.query_params.get("refuse"):
        await websocket.close()
        return
    await websocket.accept()
    await websocket.send_text("hi")
    await websocket.close()


def _client() -> TestClient:
    app = Starlette(
        routes=[
            Route("/v1/crop", _crop, methods=["POST"]),
            Route("/v1/frame", _boom, methods=["POST"]),
            WebSocketRoute("/v1/track", _track),
        ]
    )
    return TestClient(RequestMetricsMiddleware(app), raise_server_exceptions=False)


def test_requests_are_counted_by_endpoint_and_status() -> None:
    before_ok = _sample("facemesh_http_requests_total", endpoint="/v1/crop", status="200")
    before_crash = _sample("facemesh_http_requests_total", endpoint="/v1/frame", status="500")
    before_other = _sample("facemesh_http_requests_total", endpoint="other", status="404")
    before_count = _sample("facemesh_http_request_duration_seconds_count", endpoint="/v1/crop")
    idle = _sample(IN_FLIGHT, endpoint="/v1/crop")
    with _client() as client:
        during = float(client.post("/v1/crop").text)
        assert client.post("/v1/frame").status_code == 500
        assert client.get("/not/a/route/42").status_code == 404
    assert during == idle + 1 and _sample(IN_FLIGHT, endpoint="/v1/crop") == idle
    assert (
        _sample("facemesh_http_requests_total", endpoint="/v1/crop", status="200") == before_ok + 1
    )
    assert (
        _sample("facemesh_http_requests_total", endpoint="/v1/frame", status="500")
        == before_crash + 1
    )
    # Unknown paths share one bounded label.
    assert (
        _sample("facemesh_http_requests_total", endpoint="other", status="404") == before_other + 1
    )
    assert (
        _sample("facemesh_http_request_duration_seconds_count", endpoint="/v1/crop")
        == before_count + 1
    )


def test_websocket_handshakes_are_counted_by_outcome() -> None:
    accepted = _sample("facemesh_http_requests_total", endpoint="/v1/track", status="101")
    refused = _sample("facemesh_http_requests_total", endpoint="/v1/track", status="403")
    with _client() as client:
        with client.websocket_connect("/v1/track") as websocket:
            assert websocket.receive_text() == "hi"
        try:
            with client.websocket_connect("/v1/track?refuse=1"):
                pass
        except WebSocketDisconnect:
            pass
    assert _sample("facemesh_http_requests_total", endpoint="/v1/track", status="101") == (
        accepted + 1
    )
    assert _sample("facemesh_http_requests_total", endpoint="/v1/track", status="403") == (
        refused + 1
    )
    assert _sample(IN_FLIGHT, endpoint="/v1/track") == 0
