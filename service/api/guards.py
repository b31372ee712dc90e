"""Router-level dependencies for the ``/v1`` endpoints: API key, then admission.

``service.api.main`` attaches both to the ``/v1`` routers (``/healthz``, ``/readyz``,
``/metrics`` and the docs stay open and are never queued). On HTTP both raise typed errors
(``Unauthorized``, ``Overloaded``) that ``service.core.error_handlers`` maps to 401 / 503.
WebSockets (``/v1/track``): a missing or wrong key closes the handshake with 1008 (policy
violation); sessions are not admitted here, they are bounded by ``tracking_max_sessions``.
Browsers cannot set headers on a WebSocket, so there the key may also come as a subprotocol
``apikey.<key>`` next to ``facemesh.v1`` (``new WebSocket(url, ["facemesh.v1",
"apikey." + key])``); the server selects ``facemesh.v1``, never echoing the key.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import Request, WebSocketException, status
from starlette.requests import HTTPConnection

from service.api.deps import AdmissionDep, SettingsDep
from service.core.auth import configured_keys, keys_match, presented_key
from service.core.errors import Unauthorized

WEBSOCKET_SUBPROTOCOL = "facemesh.v1"
API_KEY_SUBPROTOCOL_PREFIX = "apikey."


def _presented_key(request: HTTPConnection) -> str | None:
    key = presented_key(request.headers.get)
    if key is not None:
        return key
    if request.scope["type"] == "websocket":
        protocols: list[str] = request.scope.get("subprotocols", [])
        for protocol in protocols:
            if protocol.startswith(API_KEY_SUBPROTOCOL_PREFIX):
                return protocol.removeprefix(API_KEY_SUBPROTOCOL_PREFIX)
    return None


async def require_api_key(connection: HTTPConnection, settings: SettingsDep) -> None:
    """No-op unless ``FACEMESH_API_KEYS`` is set; then ``X-API-Key: <key>`` or
    ``Authorization: Bearer <key>`` must carry one of the keys."""
    configured = configured_keys(settings)
    if not configured:
        return
    presented = _presented_key(connection)
    if presented is not None and keys_match(presented, configured):
        return
    message = (
        "missing API key (X-API-Key header, Authorization: Bearer, or on a WebSocket the "
        "subprotocol apikey.<key>)"
        if presented is None
        else "invalid API key"
    )
    if connection.scope["type"] == "websocket":
        raise WebSocketException(code=status.WS_1008_POLICY_VIOLATION, reason=message)
    raise Unauthorized(message)


async def admission_slot(
    connection: HTTPConnection, settings: SettingsDep, admission: AdmissionDep
) -> AsyncIterator[None]:
    """Hold one of the process's in-flight slots for the whole HTTP request (see
    ``service.core.admission``). A rejected request's body is drained unread (bounded by
    ``FACEMESH_MAX_BODY_BYTES``, nothing kept) so the client, still uploading, receives the
    503 instead of a reset connection. WebSocket sessions pass through."""
    if not isinstance(connection, Request):
        yield
        return
    request = connection
    try:
        await admission.acquire()
    except Exception:
        await _drain(request, settings.max_body_bytes)
        raise
    try:
        yield
    finally:
        admission.release()


async def _drain(request: Request, limit: int) -> None:
    seen = 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > limit:
            break
