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


class AmbiguousKey(ValueError):  # noqa: N818 (like the service errors)
    """A credential header (or gRPC metadata key) came more than once."""


def presented_key(header: Callable[[str], list[str]]) -> str | None:
    """The key in ``x-api-key``, else in ``authorization: Bearer <key>``; ``header`` returns
    every value of one lower-case header (HTTP) or metadata key (gRPC).

    One rule for HTTP and gRPC: a header that came more than once raises ``AmbiguousKey``
    (refused, 401 / UNAUTHENTICATED), whatever the values; which copy a proxy or a library
    would keep is not guessed."""
    keys, authorizations = header(API_KEY_HEADER), header("authorization")
    if len(keys) > 1 or len(authorizations) > 1:
        raise AmbiguousKey(
            "send exactly one API key: the x-api-key or authorization header came more than once"
        )
    if keys:
        return keys[0]
    scheme, _, credentials = (authorizations[0] if authorizations else "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
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
