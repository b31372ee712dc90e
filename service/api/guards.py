"""Guards for the ``/v1`` endpoints: the API key (a router-level dependency), then admission.

``service.api.main`` attaches ``require_api_key`` to the ``/v1`` routers (``/healthz``,
``/readyz``, ``/metrics`` and the docs stay open and are never queued). The routes enter
``admitted`` once the request body is in. On HTTP both raise typed errors
(``Unauthorized``, ``Overloaded``) that ``service.core.error_handlers`` maps to 401 / 503.

One rule for repeated credentials, HTTP and gRPC alike: a request that carries the
``x-api-key`` header (or ``authorization``) more than once is refused (401), whatever the
values; which one a proxy or library would keep is not guessed. Between the sources the
order is ``x-api-key``, then ``Authorization: Bearer``, then (WebSocket) the subprotocol.
WebSockets (``/v1/track``): a missing or wrong key closes the handshake with 1008 (policy
violation); sessions are not admitted here, they are bounded by ``tracking_max_sessions``.
Browsers cannot set headers on a WebSocket, so there the key may also come as a subprotocol
``apikey.<key>`` next to ``facemesh.v1`` (``new WebSocket(url, ["facemesh.v1",
"apikey." + key])``); the server selects ``facemesh.v1``, never echoing the key.
"""

from __future__ import annotations

import hmac
from contextlib import AbstractAsyncContextManager
from typing import cast

from fastapi import Request, WebSocketException, status
from starlette.requests import HTTPConnection

from service.core.admission import AdmissionController
from service.core.config import Settings
from service.core.errors import Unauthorized

API_KEY_HEADER = "x-api-key"
WEBSOCKET_SUBPROTOCOL = "facemesh.v1"
API_KEY_SUBPROTOCOL_PREFIX = "apikey."


class AmbiguousKey(ValueError):  # noqa: N818 (like the service errors)
    """A credential header came more than once."""


def presented_key(api_keys: list[str], authorizations: list[str]) -> str | None:
    """The key from every value of the ``x-api-key`` and ``authorization`` headers (or gRPC
    metadata): ``AmbiguousKey`` when either came more than once, else ``x-api-key`` first,
    then a Bearer token, else None."""
    if len(api_keys) > 1 or len(authorizations) > 1:
        raise AmbiguousKey(
            "send exactly one API key: the x-api-key or authorization header came more than once"
        )
    if api_keys:
        return api_keys[0]
    if authorizations:
        scheme, _, credentials = authorizations[0].partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            return credentials.strip()
    return None


def _presented_key(request: HTTPConnection) -> str | None:
    key = presented_key(
        request.headers.getlist(API_KEY_HEADER), request.headers.getlist("authorization")
    )
    if key is not None:
        return key
    if request.scope["type"] == "websocket":
        protocols: list[str] = request.scope.get("subprotocols", [])
        for protocol in protocols:
            if protocol.startswith(API_KEY_SUBPROTOCOL_PREFIX):
                return protocol.removeprefix(API_KEY_SUBPROTOCOL_PREFIX)
    return None


def keys_match(presented: str, configured: tuple[str, ...]) -> bool:
    """Whether ``presented`` is one of ``configured``, in constant time: every configured key
    is compared (``hmac.compare_digest``) whatever matched, so timing reveals neither the key
    nor which one matched."""
    candidate = presented.encode()
    matched = False
    for key in configured:
        matched |= hmac.compare_digest(candidate, key.encode())
    return matched


async def require_api_key(connection: HTTPConnection) -> None:
    """No-op unless ``FACEMESH_API_KEYS`` is set; then ``X-API-Key: <key>`` or
    ``Authorization: Bearer <key>`` must carry one of the keys."""
    settings = cast(Settings, connection.app.state.settings)
    configured = tuple(key.get_secret_value() for key in settings.api_keys)
    if not configured:
        return
    try:
        presented = _presented_key(connection)
    except AmbiguousKey as exc:
        presented, message = "", str(exc)
    else:
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


def admitted(request: Request) -> AbstractAsyncContextManager[None]:
    """One of the process's in-flight slots (``service.core.admission``), held while the
    request is processed. Routes take it only after the body is read: a client that sends
    headers and stalls holds a connection, never a slot (its read times out with 408)."""
    return cast(AdmissionController, request.app.state.admission).slot()
