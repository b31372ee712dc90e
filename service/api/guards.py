"""Guards for the ``/v1`` endpoints: the API key (a router-level dependency), then admission.

``service.api.main`` attaches ``require_api_key`` to the ``/v1`` routers (``/healthz``,
``/readyz``, ``/metrics`` and the docs stay open and are never queued). The routes take an
admission slot (``AdmissionDep``) only once the request body is in, so a client that stalls
mid-upload holds a connection, never a slot. On HTTP both raise typed errors
(``Unauthorized``, ``Overloaded``) that ``service.api.error_handlers`` maps to 401 / 503.
WebSockets (``/v1/track``): a missing or wrong key refuses the handshake with the same 401
JSON error as HTTP (an ASGI ``websocket.http.response``); sessions are not admitted here,
they are bounded by ``tracking_max_sessions``.
Browsers cannot set headers on a WebSocket, so there the key may also come as a subprotocol
``apikey.<key>`` next to ``facemesh.v1`` (``new WebSocket(url, ["facemesh.v1",
"apikey." + key])``); the server selects ``facemesh.v1`` (when offered), never echoing the key.
A repeated ``x-api-key`` or ``authorization`` header is refused (``service.core.auth``), and
so is more than one credential on a WebSocket (two ``apikey.*`` subprotocols, or one beside
a key header), whatever their order.
"""

from __future__ import annotations

from starlette.requests import HTTPConnection

from service.api.deps import SettingsDep
from service.core.auth import AmbiguousKey, configured_keys, keys_match, presented_key
from service.core.errors import Unauthorized

WEBSOCKET_SUBPROTOCOL = "facemesh.v1"
# Offered instead of (or before) it: each result comes as a binary protobuf message.
WEBSOCKET_PROTOBUF_SUBPROTOCOL = "facemesh.v1.protobuf"
API_KEY_SUBPROTOCOL_PREFIX = "apikey."


def _presented_key(request: HTTPConnection) -> str | None:
    """The one key presented; ``AmbiguousKey`` when more than one credential came."""
    key = presented_key(request.headers.getlist)
    protocols: list[str] = (
        request.scope.get("subprotocols", []) if request.scope["type"] == "websocket" else []
    )
    offered = [
        protocol.removeprefix(API_KEY_SUBPROTOCOL_PREFIX)
        for protocol in protocols
        if protocol.startswith(API_KEY_SUBPROTOCOL_PREFIX)
    ]
    if len(offered) + (key is not None) > 1:
        raise AmbiguousKey(
            "send exactly one API key: several apikey.* subprotocols, or one beside a key header"
        )
    return key if key is not None else (offered[0] if offered else None)


async def require_api_key(connection: HTTPConnection, settings: SettingsDep) -> None:
    """No-op unless ``FACEMESH_API_KEYS`` is set; then ``X-API-Key: <key>`` or
    ``Authorization: Bearer <key>`` must carry one of the keys."""
    configured = configured_keys(settings)
    if not configured:
        return
    try:
        presented = _presented_key(connection)
    except AmbiguousKey as exc:
        message = str(exc)
    else:
        if presented is not None and keys_match(presented, configured):
            return
        message = (
            "missing API key (X-API-Key header, Authorization: Bearer, or on a WebSocket the "
            "subprotocol apikey.<key>)"
            if presented is None
            else "invalid API key"
        )
    raise Unauthorized(message)  # on a WebSocket too: refused before the handshake, as JSON
