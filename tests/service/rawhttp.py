"""One raw HTTP/1.1 exchange on a fresh socket, for requests an HTTP client would not send
as written (dot segments, a hostile Host, spoiled WebSocket upgrades)."""

from __future__ import annotations

import socket
from typing import Any

WAIT_S = 30.0  # upper bound on waiting for an answer, not a timing assertion


def exchange(server: Any, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``request`` to ``server`` (a ``LiveServer``); the answer's status, headers (names
    lower-cased) and body, read until the server closes. A server that neither answers nor
    closes within ``WAIT_S`` raises ``TimeoutError``."""
    host, port = server.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=WAIT_S) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    fields = (line.split(": ", 1) for line in lines[1:] if ": " in line)
    headers = {name.lower(): value for name, value in fields}
    return int(lines[0].split()[1]), headers, body


def get(path: str, *headers: str) -> bytes:
    """A GET of ``path`` exactly as written (``Host: evil.example``), closing the connection."""
    lines = [f"GET {path} HTTP/1.1", "Host: evil.example", "Connection: close", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
