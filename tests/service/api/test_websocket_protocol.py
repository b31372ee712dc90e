"""The WebSocket protocol (``service/api/websocket_protocol.py``) against a real
``python -m service``: handshakes the ``websockets`` library refuses get the JSON error body,
and a text frame that is not UTF-8 closes with 1007 and one INFO line, no traceback."""

from __future__ import annotations

import json
import random
import socket
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tools.hostile import websocket_upgrade

SETTINGS = {"FACEMESH_LOG_LEVEL": "info"}
WAIT_S = 30.0  # upper bound on waiting for an answer, not a timing assertion


@pytest.fixture(scope="module")
def gateway(model_path: Any, live_server: Any) -> Any:
    return live_server(SETTINGS)


def _exchange(server: Any, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send one raw request; the answer's status, headers and body (read until close)."""
    host, port = server.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=WAIT_S) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), headers, body


@pytest.mark.parametrize(
    "extra",
    [
        ["Sec-WebSocket-Protocol: "],
        ["Sec-WebSocket-Protocol: a b@c"],
        ["Sec-WebSocket-Version: 13"],  # a second one
    ],
    ids=["empty-subprotocol", "invalid-subprotocol", "duplicate-version"],
)
def test_a_handshake_the_library_refuses_gets_the_json_error(
    gateway: Any, extra: list[str]
) -> None:
    status, headers, body = _exchange(gateway, websocket_upgrade("/v1/track", extra))
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
