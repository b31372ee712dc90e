"""uvicorn's WebSocket protocol (websockets, sans-I/O) with the service's answers to abuse
(``python -m service``).

uvicorn hands bad input to the ``websockets`` library, which answers it its own way, and
logs app refusals as errors; this subclass answers and logs as the rest of the gateway does:

* a handshake the library refuses before the app runs (an empty or invalid
  ``Sec-WebSocket-Protocol``, a repeated ``Sec-WebSocket-Version``, no ``Sec-WebSocket-Key``,
  a header line over the library's 8 KiB, ...) gets the JSON error body
  ``{"error": {"code": "invalid_http_request", ...}}`` with the library's status (400, 426,
  431) instead of its ``text/plain`` one; logged at INFO. A request the library refuses
  while still parsing it (a header line too long, too many headers) used to get no answer
  at all (uvicorn left the refusal unsent and the connection open), and one it cannot read
  (an upgrade request with a body) was closed without one: both are answered now;
* a text frame that is not UTF-8 closes the connection with 1007 (as uvicorn does) with one
  INFO line, not an ERROR with a traceback per frame (anyone could flood the log);
* a refusal by the app (API key, bad query; ``websocket.http.response``) counts as a
  completed handshake: uvicorn logged an ERROR ("ASGI callable returned without completing
  handshake") for each one, so anyone could write ERROR lines at will;
* every line this protocol writes (uvicorn's per-handshake lines included) goes through
  ``service.core.logging.refusal_logger``: INFO at most for a refusal, rate-limited per
  message;
* a client that sends without reading what it is answered (pings whose pongs it leaves
  unread) is no longer read from while the answers wait: uvicorn kept reading and writing,
  and its write buffer grew with everything the client sent;
* a frame the library refuses (a message over ``ws_max_size``: 1009; bad UTF-8: 1007; a
  protocol error: 1002) gets its close frame delivered: uvicorn closed the socket right after
  writing it, while the client was still sending the refused message, and closing a socket
  with unread input sends a TCP reset, which lost the close frame on the client's side (the
  hostile corpus saw 1006 on 26 of 40 oversized frames). Here the write side is shut after
  the close frame and what the client still sends is read and dropped until it closes too,
  for at most ``DRAIN_AFTER_CLOSE_S``.

Refusals by the app itself (API key, bad query) are answered as JSON by the app
(``service.api.error_handlers``) through the ASGI ``websocket.http.response`` extension.
"""

from __future__ import annotations

import email.utils
import http
import json
from typing import Any

from uvicorn._types import ASGISendEvent as Message
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.datastructures import Headers
from websockets.http11 import Response
from websockets.server import ServerProtocol
from websockets.typing import StatusLike

from service import metrics
from service.api.middleware import SECURITY_HEADERS
from service.core.logging import refusal_logger

logger = refusal_logger(__name__)

# The code of a refused upgrade request, as for any unparsable HTTP request.
HANDSHAKE_ERROR_CODE = "invalid_http_request"
# A request line or header over the library's limits: the code HTTP gives them.
_CODES = {414: "headers_too_large", 431: "headers_too_large"}
INVALID_UTF8_CLOSE_CODE = 1007
# After a refused frame's close frame: how long what the client still sends is read and
# dropped (so the close frame is not lost to a TCP reset) before the connection is closed.
DRAIN_AFTER_CLOSE_S = 2.0


class JsonRefusingServerProtocol(ServerProtocol):
    """``websockets``' server side, refusing handshakes with the service's JSON error body."""

    def reject(self, status: StatusLike, text: str) -> Response:
        status = http.HTTPStatus(status)
        code = "internal_error" if status >= 500 else _CODES.get(status, HANDSHAKE_ERROR_CODE)
        message = text.strip() or status.phrase
        logger.info("WebSocket handshake refused (%d %s): %s", status.value, code, message)
        metrics.REQUESTS.labels(endpoint="other", status=str(status.value)).inc()
        metrics.ERRORS.labels(code=code).inc()
        body = json.dumps({"error": {"code": code, "message": message}}).encode()
        headers = Headers(
            [
                ("Date", email.utils.formatdate(usegmt=True)),
                ("Connection", "close"),
                ("Content-Length", str(len(body))),
                ("Content-Type", "application/json"),
                *SECURITY_HEADERS,
            ]
        )
        return Response(status.value, status.phrase, headers, body)


class GuardedWebSocketProtocol(WebSocketsSansIOProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.conn = JsonRefusingServerProtocol(
            extensions=self.conn.available_extensions,
            max_size=self.config.ws_max_size,
            logger=logger,
        )
        self.logger = logger  # uvicorn's lines for each handshake, rate-limited

    async def send(self, message: Message) -> None:
        await super().send(message)
        if message["type"] == "websocket.http.response.body" and not message.get("more_body"):
            # The app's refusal is written: the handshake is over (uvicorn's run_asgi would
            # otherwise log an ERROR and try to answer 500 on a closed connection).
            self.handshake_complete = True

    draining = False  # a refused frame's close frame is sent; input is dropped

    def data_received(self, data: bytes) -> None:
        if self.draining:
            return  # the rest of a refused message, or anything after it
        super().data_received(data)
        if self.conn.handshake_exc is not None and not self.transport.is_closing():
            # The library refused the request before it became a handshake (a header line
            # over its 8 KiB, too many headers, a request line too long): its answer is
            # written but uvicorn never sent it, and the connection hung open. A request it
            # cannot read at all (one with a body) it just closed, with no answer.
            answer = b"".join(self.conn.data_to_send())
            if not answer:
                cause = self.conn.handshake_exc.__cause__ or self.conn.handshake_exc
                refusal = self.conn.reject(400, f"invalid WebSocket upgrade request: {cause}")
                answer = refusal.serialize()
            self.transport.write(answer)
            self.handshake_complete = self.close_sent = True
            self.transport.close()
            return
        if not self.writable.is_set() and not self.transport.is_closing():
            # Answers (pongs above all) the client does not read: stop reading until they
            # drain, or a client that pings without reading grows our write buffer forever.
            self.transport.pause_reading()
            self.paused_for_writes = True

    paused_for_writes = False

    def resume_writing(self) -> None:
        super().resume_writing()
        if self.paused_for_writes:
            self.paused_for_writes = False
            if not self.read_paused:  # uvicorn's own pause (the app is behind) still holds
                self.transport.resume_reading()

    def handle_parser_exception(self) -> None:
        """As uvicorn's, but the socket is half-closed and drained instead of closed at once
        (see the module docstring)."""
        if self.draining:
            return
        assert self.conn.close_sent is not None
        code, reason = self.conn.close_sent.code, self.conn.close_sent.reason
        self.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        self.draining = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
        # The client's own close ends it sooner (EOF closes the transport, and closing
        # cancels this timer).
        self.close_timer = self.loop.call_later(DRAIN_AFTER_CLOSE_S, self.transport.close)

    def send_receive_event_to_app(self) -> None:
        if self.curr_msg_data_type == "text" and not self.close_sent:
            try:
                b"".join(self.frames).decode()
            except UnicodeDecodeError:
                client = f"{self.client[0]}:{self.client[1]}" if self.client else "-"
                logger.info(
                    "WebSocket text frame from %s is not UTF-8: closed with %d",
                    client,
                    INVALID_UTF8_CLOSE_CODE,
                )
                self.frames = []
                self.conn.send_close(INVALID_UTF8_CLOSE_CODE, "text frame is not UTF-8")
                self.handle_parser_exception()
                return
        super().send_receive_event_to_app()
