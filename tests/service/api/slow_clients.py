"""Raw-socket helpers for the slow- and hostile-client tests (``test_uploads.py``,
``test_http_protocol.py``): one real ``python -m service`` with small limits (2 slots, 2
queue places, 2 s timeouts) keeps every test to a few seconds."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from tests.service.imagekit import crop_bytes

GOOD = crop_bytes("lenna_face0")
TIMEOUT_S = 2.0
SLOW = {
    "FACEMESH_MAX_IN_FLIGHT": "2",
    "FACEMESH_MAX_QUEUE": "2",
    "FACEMESH_QUEUE_TIMEOUT_S": "1",
    "FACEMESH_BODY_IDLE_TIMEOUT_S": str(TIMEOUT_S),
    "FACEMESH_BODY_TIMEOUT_S": str(2 * TIMEOUT_S),
    "FACEMESH_HEADER_TIMEOUT_S": str(TIMEOUT_S),
    "FACEMESH_MAX_HEADER_BYTES": "8192",
    "FACEMESH_MAX_HEADER_COUNT": "50",
    "FACEMESH_LOG_LEVEL": "info",
}
STALLED = 40  # the issue saw 100; 40 is 10x the slots + queue places here
# Upper bound on waiting for an answer, not a timing assertion.
READ_LIMIT_S = 30.0


def address(server: Any) -> tuple[str, int]:
    host, port = server.base_url.removeprefix("http://").split(":")
    return host, int(port)


@contextmanager
def connection(server: Any) -> Iterator[socket.socket]:
    sock = socket.create_connection(address(server), timeout=READ_LIMIT_S)
    try:
        yield sock
    finally:
        sock.close()


def read_response(sock: socket.socket) -> tuple[int, bytes]:
    """Status and raw bytes of one response (reads until the server closes or the declared
    body is in)."""
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not chunk:
            break
        data += chunk
        head, sep, body = data.partition(b"\r\n\r\n")
        match = re.search(rb"content-length: *(\d+)", head, re.IGNORECASE)
        if sep and match and len(body) >= int(match.group(1)):
            break
    match = re.match(rb"HTTP/1\.[01] (\d{3})", data)
    return (int(match.group(1)) if match else 0), data


def post_head(path: str = "/v1/crop", length: int = 100_000) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


def metric(server: Any, name: str, **labels: str) -> float:
    text = httpx.get(f"{server.base_url}/metrics", timeout=30).text
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(f"{name}{{{wanted}}} "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0
