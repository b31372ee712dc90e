"""API keys: what a caller presented, and constant-time matching."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pydantic import SecretStr

from service.core.auth import AmbiguousKey, configured_keys, keys_match, presented_key
from service.core.config import Settings


def test_keys_compare_against_every_key() -> None:
    assert keys_match("b", ("a", "b", "c"))
    assert not keys_match("", ("a",))
    assert not keys_match("a", ())
    assert not keys_match("ab", ("a", "b"))


def _headers(**values: list[str]) -> Callable[[str], list[str]]:
    return lambda name: values.get(name.replace("-", "_"), [])


def test_presented_key_prefers_x_api_key_then_bearer() -> None:
    both = _headers(x_api_key=["k1"], authorization=["Bearer k2"])
    assert presented_key(both) == "k1"
    assert presented_key(_headers(authorization=["bearer  k2 "])) == "k2"
    assert presented_key(_headers(authorization=["Basic abc"])) is None
    assert presented_key(_headers()) is None


@pytest.mark.parametrize(
    "headers",
    [
        _headers(x_api_key=["k1", "k1"]),
        _headers(x_api_key=["wrong", "k1"]),
        _headers(authorization=["Bearer k1", "Bearer k2"]),
    ],
    ids=["same-twice", "two-keys", "two-bearers"],
)
def test_a_repeated_credential_is_ambiguous(headers: Callable[[str], list[str]]) -> None:
    """One rule for HTTP headers and gRPC metadata: refused, never first- or last-wins."""
    with pytest.raises(AmbiguousKey):
        presented_key(headers)


def test_configured_keys_from_settings() -> None:
    assert configured_keys(Settings()) == ()
    assert configured_keys(Settings(api_keys=(SecretStr("a"), SecretStr("b")))) == ("a", "b")
