"""Service test fixtures: the default live gateway, goldens and a TestClient on the real model."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from imagekit import goldens

from service.core.config import Settings
from service.main import create_app


@pytest.fixture(scope="session")
def crop_goldens() -> dict[str, np.ndarray]:
    return goldens()


@pytest.fixture(scope="session")
def gateway(model_path: Path, live_server: Callable[[Mapping[str, str]], Any]) -> Any:
    """The gateway with default settings, served by uvicorn on a local port."""
    return live_server({})


@pytest.fixture(scope="session")
def test_client(model_path: Path) -> Iterator[TestClient]:
    """In-process TestClient on the real ONNX Runtime backend (lifespan run)."""
    with TestClient(create_app(Settings(model_path=model_path))) as client:
        yield client
