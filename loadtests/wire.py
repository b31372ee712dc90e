"""HTTP helpers with no locust import (importing locust monkey-patches the process with
gevent, so the runner and pytest must not): the loopback guard and multipart encoding."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit


def is_loopback_url(url: str) -> bool:
    """True when every address ``url``'s host resolves to is a loopback address."""
    host = urlsplit(url).hostname
    if not host:
        return False
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror:
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos)


def multipart_body(parts: list[tuple[str, str, bytes, str]], boundary: str) -> tuple[bytes, str]:
    """Encode ``(field, filename, data, content_type)`` parts as multipart/form-data.

    Returns the body and its Content-Type header value.
    """
    chunks: list[bytes] = []
    for field, filename, data, content_type in parts:
        chunks.append(
            (
                f"--{boundary}\r\n"
                f'Content-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
                f"Content-Type: {content_type}\r\n\r\n"
            ).encode()
        )
        chunks.append(data)
        chunks.append(b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"
