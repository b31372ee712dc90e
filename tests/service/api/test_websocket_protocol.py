"""The WebSocket protocol (``service/api/websocket_protocol.py``) against a real
``python -m service``: handshakes the ``websockets`` library refuses get the JSON error body,
and a text frame that is not UTF-8 closes with 1007 and one INFO line, no traceback."""

from __future__ import annotations

import json
import random
import socket
import time
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from service.core.logging import REFUSAL_LOG_BURST, REFUSAL_LOG_PERIOD_S
from tests.service.rawhttp import exchange
from tools.hostile import websocket_upgrade

SETTINGS = {"FACEMESH_LOG_LEVEL": "info"}
WAIT_S = 30.0  # upper bound on waiting for an answer, not a timing assertion
STALL_S = 5.0  # a send blocked this long: the server has stopped reading


@pytest.fixture(scope="module")
def gateway(model_path: Any, live_server: Any) -> Any:
    return live_server(SETTINGS)


@pytest.mark.parametrize(
    "extra",
    [
        ["Sec-WebSocket-Protocol: "],
        ["Sec-WebSocket-Protocol: a b@c"],
        ["Sec-WebSocket-Version: 13"],  # a second one
        ["Content-Length: 5"],  # a body (the library closed without an answer)
    ],
    ids=["empty-subprotocol", "invalid-subprotocol", "duplicate-version", "with-a-body"],
)
def test_a_handshake_the_library_refuses_gets_the_json_error(
    gateway: Any, extra: list[str]
) -> None:
    status, headers, body = exchange(gateway, websocket_upgrade("/v1/track", extra))
    assert status == 400
    assert headers["content-type"] == "application/json"
    error = json.loads(body)["error"]
    assert error["code"] == "invalid_http_request" and error["message"]


def test_a_text_frame_that_is_not_utf8_closes_with_1007_and_one_info_line(gateway: Any) -> None:
    url = gateway.base_url.replace("http://", "ws://") + "/v1/track"
    for _ in range(3):
        with connect(url, open_timeout=WAIT_S) as ws:
            ws.send(b"\xff\xfe not UTF-8", text=True)
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=WAIT_S)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1007
    log = gateway.log()
    assert log.count("is not UTF-8: closed with 1007") == 3
    assert "Traceback" not in log and "Invalid UTF-8 sequence" not in log


def test_a_header_line_over_the_library_limit_is_answered_not_left_hanging(gateway: Any) -> None:
    """websockets refuses a header line over 8 KiB while parsing the request (before it is a
    handshake); uvicorn never sent that refusal and left the connection open for good."""
    offers = ", ".join(f"p{i}" for i in range(1500))  # one 9.5 kB Sec-WebSocket-Protocol line
    status, headers, body = exchange(
        gateway, websocket_upgrade("/v1/track", [f"Sec-WebSocket-Protocol: {offers}"])
    )
    assert status == 431
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["error"]["code"] == "headers_too_large"


def test_a_client_that_pings_without_reading_is_no_longer_read(gateway: Any) -> None:
    """Pings whose pongs the client leaves unread: the server stops reading once its answers
    cannot be written (before, it read on and buffered every pong: 175 MB of pings grew the
    process by 84 MB). What the server accepted is bounded by the sockets' buffers."""
    host, port = gateway.base_url.removeprefix("http://").split(":")
    ping = bytes([0x89, 0x80 | 125]) + b"\0\0\0\0" + b"p" * 125  # masked, zero key
    chunk = ping * 8000  # about 1 MB
    offered = 64  # MB
    with socket.create_connection((host, int(port)), timeout=WAIT_S) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(websocket_upgrade("/v1/track"))
        assert sock.recv(4096).startswith(b"HTTP/1.1 101")
        sock.settimeout(STALL_S)
        sent = 0
        try:
            for _ in range(offered):
                sock.sendall(chunk)
                sent += len(chunk)
        except TimeoutError:
            pass
    assert sent < offered * len(chunk) // 2, f"the server read {sent >> 20} MB of pings"
    with connect(gateway.base_url.replace("http://", "ws://") + "/v1/track") as ws:
        ws.send("still serving")
        assert json.loads(ws.recv(timeout=WAIT_S))["error"]["code"] == "unsupported_message"


KEY = "ws-refusal-key"


@pytest.fixture(scope="module")
def keyed_gateway(model_path: Any, live_server: Any) -> Any:
    return live_server({**SETTINGS, "FACEMESH_API_KEYS": KEY})


def test_refused_handshakes_log_no_error_and_a_bounded_number_of_lines(
    keyed_gateway: Any,
) -> None:
    """Anyone can be refused (no key: 401; a bad query: 422): each refusal used to write an
    ERROR ("ASGI callable returned without completing handshake") and two INFO lines."""
    url = keyed_gateway.base_url.replace("http://", "ws://") + "/v1/track"
    attempts = 60
    before = len(keyed_gateway.log())
    start = time.monotonic()
    statuses = []
    for i in range(2 * attempts):
        keyed = i % 2 == 1
        with pytest.raises(InvalidStatus) as refused:
            connect(
                url + ("?fov_degrees=abc" if keyed else ""),
                additional_headers={"X-API-Key": KEY} if keyed else {},
                open_timeout=WAIT_S,
            )
        statuses.append(refused.value.response.status_code)
    elapsed = time.monotonic() - start
    assert statuses == [401, 422] * attempts
    lines = keyed_gateway.log()[before:].splitlines()
    assert not [line for line in lines if "ERROR" in line or "Traceback" in line]
    # Each message template gets REFUSAL_LOG_BURST lines per period: a bound that grows with
    # the time the attempts took (not an assertion on that time), far below one per attempt.
    windows = int(elapsed // REFUSAL_LOG_PERIOD_S) + 2
    per_template = REFUSAL_LOG_BURST * windows
    handshake_lines = [line for line in lines if '"WebSocket /v1/track' in line]
    rejected_lines = [line for line in lines if "connection rejected" in line]
    assert 0 < len(handshake_lines) <= per_template
    assert 0 < len(rejected_lines) <= per_template


@pytest.fixture(scope="module")
def small_body_gateway(model_path: Any, live_server: Any) -> Any:
    return live_server({"FACEMESH_MAX_BODY_BYTES": str(200_000)})


def test_a_message_over_the_limit_gets_its_1009_close_frame_every_time(
    small_body_gateway: Any,
) -> None:
    """An 8 MB incompressible message (more than the sockets' buffers hold; the client offers
    permessage-deflate) against a 200 kB limit: the server refuses it from the frame header
    while the client is still sending. Before, the socket was closed with the rest of the
    message unread, and the TCP reset lost the close frame (1006) on about two tries in three;
    now the close frame reaches the client every time."""
    url = small_body_gateway.base_url.replace("http://", "ws://") + "/v1/track"
    message = random.Random(9).randbytes(8_000_000)
    codes = []
    for _ in range(12):
        with (
            connect(url, open_timeout=WAIT_S, max_size=None) as ws,
            pytest.raises(ConnectionClosed) as closed,
        ):
            ws.send(message)
            ws.recv(timeout=WAIT_S)
        codes.append(closed.value.rcvd.code if closed.value.rcvd is not None else None)
    assert codes == [1009] * 12
    # The server keeps serving.
    with connect(url, open_timeout=WAIT_S) as ws:
        ws.send("a text frame")
        assert json.loads(ws.recv(timeout=WAIT_S))["error"]["code"] == "unsupported_message"
