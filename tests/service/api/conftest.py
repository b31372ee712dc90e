"""Fixtures of the API tests."""

from __future__ import annotations

from typing import Any

import pytest

from tests.service.api.slow_clients import SLOW


@pytest.fixture(scope="module")
def slow_gateway(model_path: Any, live_server: Any) -> Any:
    """A real gateway with the small limits of ``slow_clients.SLOW``."""
    return live_server(SLOW)
