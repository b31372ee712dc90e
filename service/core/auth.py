"""API keys: which key a caller presented, and whether it is one of the configured keys.

Shared by HTTP, the WebSocket handshake (``service.api.guards``) and the gRPC stream
(``service.tracking.grpc_server``), so the three accept exactly the same credentials.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable

from service.core.config import Settings

API_KEY_HEADER = "x-api-key"


def configured_keys(settings: Settings) -> tuple[str, ...]:
    """The keys from ``FACEMESH_API_KEYS``; empty means authentication is off."""
    return tuple(key.get_secret_value() for key in settings.api_keys)


def presented_key(header: Callable[[str], str | None]) -> str | None:
    """The key in ``x-api-key``, else in ``authorization: Bearer <key>``; ``header`` reads one
    lower-case header (HTTP) or metadata (gRPC) value."""
    key = header(API_KEY_HEADER)
    if key is not None:
        return key
    scheme, _, credentials = (header("authorization") or "").partition(" ")
    if scheme.lower() == "bearer" and credentials:
        return credentials.strip()
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
