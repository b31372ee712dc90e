"""uvicorn's httptools HTTP/1.1 protocol with limits on request headers (``python -m service``).

uvicorn's parser buffers an unfinished header without bound and waits for it forever, before
any of the app (API key included) runs. This subclass adds, per connection:

* ``max_header_bytes`` (request line + headers) and ``max_header_count``: past either, the
  server answers ``431`` ``headers_too_large`` and closes the connection, so an unfinished
  20 MB header costs at most the limit plus one socket read;
* ``header_timeout_s``: from the moment the connection is idle (opened, or its previous
  response sent) the next request's headers must be complete within this time; if some of
  them came the answer is ``408`` ``header_timeout``, else the connection just closes.

A request the parser cannot read (bad request line, conflicting ``Content-Length`` and
``Transfer-Encoding``, ...) gets ``400`` ``invalid_http_request`` as JSON, not uvicorn's
plain text. The body is not timed here (``service.api.uploads`` times it once a route reads it).
Rejections are logged at INFO (rate-limited) and counted in the request and error metrics (endpoint
``other``: the path is not known yet). Limits come from ``get_settings()`` (the settings
``python -m service`` serves with, also in spawned workers).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from service import metrics
from service.api.middleware import SECURITY_HEADERS
from service.core.config import get_settings
from service.core.logging import refusal_logger

logger = refusal_logger(__name__)

_REASONS = {
    400: b"Bad Request",
    408: b"Request Timeout",
    431: b"Request Header Fields Too Large",
}


class HeadersTooLarge(Exception):  # noqa: N818 (raised inside the parser's callbacks)
    """The request line and headers passed ``max_header_bytes`` or ``max_header_count``."""


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = get_settings()
        self.max_header_bytes = settings.max_header_bytes
        self.max_header_count = settings.max_header_count
        self.header_timeout_s = settings.header_timeout_s
        self._awaiting_headers = True
        self._received = 0  # bytes received since the current request began (headers phase)
        self._header_size = 0  # exact size of the parsed request line and headers
        self._header_count = 0
        self._header_timer: asyncio.TimerHandle | None = None

    # --- connection ------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        if self._awaiting_headers:
            self._received += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, HeadersTooLarge):
                self._reject(431, "headers_too_large", str(exc.__context__))
                return
            self.send_400_response(f"invalid HTTP request: {exc}")
            return
        if self._awaiting_headers and self._received > self.max_header_bytes:
            # Still no end of headers: whatever the parser holds is over the limit.
            self._reject(431, "headers_too_large", self._size_message())

    # --- parser callbacks ------------------------------------------------------------------
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_size = 0
        self._header_count = 0

    def on_url(self, url: bytes) -> None:
        self._header_size += len(url)
        if self._header_size > self.max_header_bytes:
            raise HeadersTooLarge(self._size_message())
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_size += len(name) + len(value) + 4
        self._header_count += 1
        if self._header_size > self.max_header_bytes:
            raise HeadersTooLarge(self._size_message())
        if self._header_count > self.max_header_count:
            raise HeadersTooLarge(f"more than {self.max_header_count} header fields")
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._awaiting_headers = False
        self._cancel_header_timer()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._awaiting_headers = True
        self._received = 0

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.timeout_keep_alive_task is not None:  # idle now: the next request's clock
            self._arm_header_timer()

    def send_400_response(self, msg: str) -> None:
        """Unparsable HTTP (uvicorn answers plain text): the service's JSON error instead."""
        self._reject(400, "invalid_http_request", msg)

    def _unsupported_upgrade_warning(self) -> None:
        """An ``Upgrade`` we do not speak (``h2c``, anything but ``websocket``) is ignored and
        the request served as plain HTTP/1.1: uvicorn logged a WARNING for each one."""
        logger.info("Upgrade %r ignored: served as HTTP/1.1", self._get_upgrade())

    # --- helpers ---------------------------------------------------------------------------
    def _size_message(self) -> str:
        return f"request line and headers exceed {self.max_header_bytes} bytes"

    def _arm_header_timer(self) -> None:
        self._cancel_header_timer()
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._header_timeout)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timeout(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or not self._awaiting_headers:
            return
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a request is being answered; its body is the route's to time
        if self._received:
            self._reject(
                408,
                "header_timeout",
                f"request headers not received within {self.header_timeout_s:g} s",
            )
        else:
            self.transport.close()

    def _reject(self, status: int, code: str, message: str) -> None:
        """Answer ``status`` with the service's error body and close the connection."""
        self._cancel_header_timer()
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "-"
        logger.info("%d %s from %s: %s", status, code, client, message)
        metrics.REQUESTS.labels(endpoint="other", status=str(status)).inc()
        metrics.ERRORS.labels(code=code).inc()
        body = json.dumps({"error": {"code": code, "message": message}}).encode()
        head = [b"HTTP/1.1 %d %s\r\n" % (status, _REASONS[status])]
        for name, value in self.server_state.default_headers:
            head.append(name + b": " + value + b"\r\n")
        for header, setting in SECURITY_HEADERS:
            head.append(f"{header}: {setting}\r\n".encode())
        head.append(b"content-type: application/json\r\n")
        head.append(b"content-length: %d\r\n" % len(body))
        head.append(b"connection: close\r\n\r\n")
        self.transport.write(b"".join(head) + body)
        self.transport.close()
        self._awaiting_headers = False
