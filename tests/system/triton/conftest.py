"""Fixtures for the Triton tests: a real local ``tritonserver`` and gateways that use it.

``triton`` is one server for the whole session (parity, batching). Fault tests kill or
freeze their server, so they take ``own_triton``: a fresh one per test. Both serve the real
``model.onnx`` (``make test`` builds it first) and skip, saying why, when the model or the
local Triton (``make triton-venv``) is missing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tools.servers.triton import LocalTriton, LocalTritonUnavailableError

CROPS_DIR = Path(__file__).resolve().parents[2] / "data" / "crops"

# Gateway settings for the Triton backend: enough concurrent model calls per process that
# Triton sees concurrent requests to batch (the embedded default of 1 would serialise them).
GATEWAY_CONCURRENCY = 16

# Triton vs embedded backend: both run the same ONNX file with ONNX Runtime.
TOLERANCE_PX = 1e-3
# The embedded gateway compared with Triton runs what Triton's Python backend runs here: ONNX
# Runtime (OpenVINO's own parity is tests/service/inference/test_runtime.py).
SAME_RUNTIME = {"FACEMESH_RUNTIME": "onnxruntime"}


def _start(workdir: Path, model_path: Path) -> LocalTriton:
    server = LocalTriton(workdir, model_path)
    try:
        server.start()
    except LocalTritonUnavailableError as exc:
        pytest.skip(f"local tritonserver unavailable: {exc}")
    return server


@pytest.fixture(scope="session")
def triton(tmp_path_factory: pytest.TempPathFactory, model_path: Path) -> Iterator[LocalTriton]:
    """One real tritonserver serving ``facemesh`` for the session."""
    server = _start(tmp_path_factory.mktemp("triton"), model_path)
    yield server
    server.stop()


@pytest.fixture
def own_triton(tmp_path: Path, model_path: Path) -> Iterator[LocalTriton]:
    """A tritonserver of this test's own, free to be killed, frozen and restarted."""
    server = _start(tmp_path / "triton", model_path)
    yield server
    server.stop()


def gateway_settings(server: LocalTriton, protocol: str = "grpc", **extra: str) -> dict[str, str]:
    """``FACEMESH_*`` environment for a gateway on the Triton backend pointing at ``server``."""
    url = server.grpc_url if protocol == "grpc" else server.http_url
    return {
        "FACEMESH_BACKEND": "triton",
        "FACEMESH_TRITON_URL": url,
        "FACEMESH_TRITON_PROTOCOL": protocol,
        "FACEMESH_INFERENCE_CONCURRENCY": str(GATEWAY_CONCURRENCY),
        **extra,
    }


@pytest.fixture(scope="session")
def triton_gateway(
    triton: LocalTriton, live_server: Callable[[Mapping[str, str]], Any]
) -> Callable[[str], Any]:
    """``triton_gateway(protocol)`` -> a live gateway on the session Triton."""

    def get(protocol: str = "grpc") -> Any:
        return live_server(gateway_settings(triton, protocol))

    return get


@pytest.fixture(scope="session")
def crop_paths() -> list[Path]:
    paths = sorted(CROPS_DIR.glob("*.png"))
    assert paths, f"no crops in {CROPS_DIR}"
    return paths


@pytest.fixture(scope="session")
def crop_batch(crop_paths: list[Path]) -> np.ndarray:
    """Every shared crop as uint8 [N, 192, 192, 3] RGB."""
    return np.stack([np.asarray(Image.open(path).convert("RGB")) for path in crop_paths])


def assert_same_json(got: Any, want: Any, path: str = "") -> None:
    """Equal structure; numbers within ``TOLERANCE_PX`` (coordinates are image pixels)."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and got.keys() == want.keys(), path
        for key in want:
            assert_same_json(got[key], want[key], f"{path}.{key}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), path
        if want and all(isinstance(v, (int, float)) for v in want):
            np.testing.assert_allclose(got, want, rtol=0, atol=TOLERANCE_PX, err_msg=path)
        else:
            for index, (g, w) in enumerate(zip(got, want, strict=True)):
                assert_same_json(g, w, f"{path}[{index}]")
    elif isinstance(want, float):
        assert got == pytest.approx(want, abs=TOLERANCE_PX), path
    else:
        assert got == want, path
