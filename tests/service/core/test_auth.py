"""API keys: what a caller presented, and constant-time matching."""

from __future__ import annotations

from pydantic import SecretStr

from service.core.auth import configured_keys, keys_match, presented_key
from service.core.config import Settings


def test_keys_compare_against_every_key() -> None:
    assert keys_match("b", ("a", "b", "c"))
    assert not keys_match("", ("a",))
    assert not keys_match("a", ())
    assert not keys_match("ab", ("a", "b"))


def test_presented_key_prefers_x_api_key_then_bearer() -> None:
    both = {"x-api-key": "k1", "authorization": "Bearer k2"}
    assert presented_key(both.get) == "k1"
    assert presented_key({"authorization": "bearer  k2 "}.get) == "k2"
    assert presented_key({"authorization": "Basic abc"}.get) is None
    assert presented_key({}.get) is None


def test_configured_keys_from_settings() -> None:
    assert configured_keys(Settings()) == ()
    assert configured_keys(Settings(api_keys=(SecretStr("a"), SecretStr("b")))) == ("a", "b")
