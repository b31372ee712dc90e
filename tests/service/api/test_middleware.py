"""``service/api/middleware.py``: security headers on every kind of answer of a real
``python -m service`` (the app's, the error handlers', the HTTP protocol's and the WebSocket
protocol's, sent byte for byte); request metrics by endpoint and status, in flight while a
request runs, WebSocket handshakes by outcome (a real Starlette app in the middleware)."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import REGISTRY
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket, WebSocketDisconnect

from service.api.middleware import SECURITY_HEADERS, RequestMetricsMiddleware
from tests.service.rawhttp import exchange, get
from tools.hostile import websocket_upgrade


def _post(path: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        f"Content-Type: image/jpeg\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


CASES = {
    "ok": (get("/healthz"), 200),
    "not-found": (get("/nowhere"), 404),
    "method-not-allowed": (get("/v1/crop"), 405),
    "bad-image": (_post("/v1/crop", b"not an image"), 422),
    "demo-page": (get("/demo/"), 200),
    "demo-redirect": (get("/demo"), 307),
    "demo-file": (get("/demo/demo.js"), 200),
    "metrics": (get("/metrics"), 200),
    "metrics-post": (_post("/metrics", b""), 405),
    "headers-too-large": (get("/healthz", "X-Big: " + "a" * 40_000), 431),
    "unparsable": (b"GET / HTTP/9.9\r\n\r\n", 400),
    "websocket-refused-by-the-app": (websocket_upgrade("/v1/track?fov_degrees=abc"), 422),
    "websocket-refused-by-the-library": (
        websocket_upgrade("/v1/track", ["Sec-WebSocket-Version: 13"]),
        400,
    ),
    "websocket-to-a-plain-route": (websocket_upgrade("/healthz"), 403),
}


@pytest.mark.parametrize("case", CASES)
def test_every_answer_forbids_sniffing_and_framing(gateway: Any, case: str) -> None:
    request, expected = CASES[case]
    status, headers, _ = exchange(gateway, request)
    assert status == expected
    for name, value in SECURITY_HEADERS:
        assert headers.get(name.lower()) == value, (name, headers)


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
