"""Security headers (``service/api/middleware.py``) on every kind of answer of a real
``python -m service``: the app's, the error handlers', the HTTP protocol's and the WebSocket
protocol's, sent byte for byte."""

from __future__ import annotations

from typing import Any

import pytest

from service.api.middleware import SECURITY_HEADERS
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
