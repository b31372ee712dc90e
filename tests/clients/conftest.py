"""Fixtures for the Python client's tests: real gateways (``python -m service`` through the
root ``live_server`` fixture)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from tests.clients.helpers import GUARDED_SETTINGS
from tools.servers.gateway import LiveServer


@pytest.fixture(scope="session")
def gateway(model_path: Path, live_server: Callable[[Mapping[str, str]], LiveServer]) -> LiveServer:
    """The gateway with default settings."""
    return live_server({})


@pytest.fixture(scope="session")
def guarded_gateway(
    model_path: Path, live_server: Callable[[Mapping[str, str]], LiveServer]
) -> LiveServer:
    return live_server(GUARDED_SETTINGS)
