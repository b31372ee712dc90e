"""Fixtures shared by every test folder.

``live_server`` starts the real gateway (``python -m service``) as a subprocess on a free local
port, with the given ``FACEMESH_*`` settings, and waits until ``/readyz`` answers 200. Servers
are cached per settings for the whole session and stopped at its end, so reuse is cheap::

    def test_something(live_server):
        server = live_server({"FACEMESH_CROPS_MAX_IMAGES": "4"})
        response = httpx.get(f"{server.base_url}/healthz")

``grpc_live_server(settings)`` is the same with the gRPC tracking stream on; it returns the
server and its gRPC target.

Tests that need the built model use the ``model_path`` fixture (skips with a pointer to
``make model`` when the file is absent; ``make test`` always builds it first).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from tools.servers.gateway import LiveServer, start_server
from tools.servers.ports import LOOPBACK, free_port

REPO_ROOT = Path(__file__).resolve().parents[1]
TEST_DATA = REPO_ROOT / "tests" / "data"
MODEL_PATH = REPO_ROOT / "model_repository" / "facemesh" / "1" / "model.onnx"


@pytest.fixture(scope="session")
def live_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[[Mapping[str, str]], LiveServer]]:
    """Factory: ``live_server(settings)`` -> a ready ``LiveServer`` (one per distinct settings)."""
    servers: dict[tuple[tuple[str, str], ...], LiveServer] = {}
    log_dir = tmp_path_factory.mktemp("live-servers")

    def get(settings: Mapping[str, str] | None = None) -> LiveServer:
        key = tuple(sorted((settings or {}).items()))
        server = servers.get(key)
        if server is None or server.process.poll() is not None:
            server = start_server(dict(key), log_dir)
            servers[key] = server
        return server

    yield get
    for server in servers.values():
        server.stop()


@pytest.fixture(scope="session")
def grpc_live_server(
    live_server: Callable[[Mapping[str, str]], LiveServer],
) -> Callable[[Mapping[str, str]], tuple[LiveServer, str]]:
    """Factory: ``grpc_live_server(settings)`` -> (a ready gateway with the gRPC tracking
    stream on, its ``host:port`` gRPC target). Its gRPC port is picked once per distinct
    settings, so every module asking for the same settings shares one gateway process (a port
    picked per module would make each settings key, and each process, new)."""
    ports: dict[tuple[tuple[str, str], ...], int] = {}

    def get(settings: Mapping[str, str] | None = None) -> tuple[LiveServer, str]:
        key = tuple(sorted((settings or {}).items()))
        port = ports.setdefault(key, free_port())
        grpc = {"FACEMESH_GRPC_ENABLED": "true", "FACEMESH_GRPC_PORT": str(port)}
        return live_server({**dict(key), **grpc}), f"{LOOPBACK}:{port}"

    return get


@pytest.fixture(scope="session")
def model_path() -> Path:
    """The built model; skips (pointing at ``make model``) when it has not been built."""
    if not MODEL_PATH.is_file():
        pytest.skip(f"{MODEL_PATH} missing: run `make model` (make test does)")
    return MODEL_PATH


@pytest.fixture(scope="session")
def test_data() -> Path:
    """``tests/data``: crops, frames, goldens (see its README)."""
    return TEST_DATA
