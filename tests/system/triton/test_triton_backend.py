"""``service.inference.triton`` against a real tritonserver started by the test: a backend
started before Triton recovers when it appears; ``--model-config-name`` picks the config."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from service.core.errors import BackendUnavailable
from service.inference.triton import TritonBackend
from tools.servers.ports import free_port
from tools.servers.triton import LocalTriton


@pytest.mark.triton
@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_backend_started_before_triton_recovers_when_it_appears(
    protocol: str, tmp_path: Path, model_path: Path, crop_batch: np.ndarray
) -> None:
    """The gateway may start before Triton: not ready, 503s, then it works, same object."""
    server = LocalTriton(tmp_path / "triton", model_path)
    server.http_port, server.grpc_port, server.metrics_port = free_port(), free_port(), free_port()
    url = server.grpc_url if protocol == "grpc" else server.http_url
    backend = TritonBackend(url, protocol=protocol, timeout_s=30.0)
    try:
        assert not backend.is_ready()
        with pytest.raises(BackendUnavailable):
            backend.infer(crop_batch[:1])
        server.start()
        deadline = time.monotonic() + 60.0  # bound, not a timing assertion
        while not backend.is_ready():
            assert time.monotonic() < deadline, "backend never saw the started Triton"
            time.sleep(0.1)
        assert backend.infer(crop_batch[:2]).batch_size == 2
    finally:
        backend.close()
        server.stop()


@pytest.mark.triton
@pytest.mark.slow
def test_model_config_name_selects_configs_subfolder(
    tmp_path: Path, model_path: Path, crop_batch: np.ndarray
) -> None:
    """docker-compose.cpu.yml's mechanism on a real tritonserver: with config.pbtxt unloadable
    here (onnxruntime backend), ``--model-config-name`` loads ``configs/<name>.pbtxt``."""
    server = LocalTriton(tmp_path / "triton", model_path, config_name="cpu")
    server.start()
    try:
        backend = TritonBackend(server.grpc_url)
        assert backend.is_ready()
        assert backend.infer(crop_batch[:1]).batch_size == 1
        backend.close()
    finally:
        server.stop()
