"""``service/inference/triton.py`` without a Triton server: the metadata check against the
contract, argument validation, a caller's bad input, and nothing listening (unavailable)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from service.core.config import Settings
from service.core.errors import BackendUnavailable
from service.inference.base import InferenceBackend
from service.inference.triton import TritonBackend, from_settings
from tools.servers.ports import free_port


def test_backend_satisfies_the_interface() -> None:
    backend = TritonBackend("127.0.0.1:1")
    assert isinstance(backend, InferenceBackend)
    assert backend.name == "triton"


def test_from_settings() -> None:
    settings = Settings(
        backend="triton", triton_url="triton:8001", triton_protocol="http", triton_timeout_s=2.5
    )
    backend = from_settings(settings)
    assert (backend.url, backend.protocol, backend.timeout_s) == ("triton:8001", "http", 2.5)


@pytest.mark.parametrize(
    "kwargs", [{"protocol": "udp"}, {"timeout_s": 0}, {"retries": -1}], ids=str
)
def test_bad_arguments(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        TritonBackend("127.0.0.1:1", **kwargs)


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_wrong_input_is_a_caller_bug(protocol: str) -> None:
    backend = TritonBackend("127.0.0.1:1", protocol=protocol)
    with pytest.raises(ValueError, match="uint8"):
        backend.infer(np.zeros((1, 192, 192, 3), np.float32))
    with pytest.raises(ValueError, match="uint8"):
        backend.infer(np.zeros((0, 192, 192, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        backend.infer(np.zeros((1, 96, 96, 3), np.uint8))


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_nothing_listening_means_unavailable(protocol: str) -> None:
    backend = TritonBackend(f"127.0.0.1:{free_port()}", protocol=protocol, timeout_s=5.0)
    assert not backend.is_ready()
    with pytest.raises(BackendUnavailable) as raised:
        backend.infer(np.zeros((1, 192, 192, 3), np.uint8))
    assert raised.value.code == "backend_unavailable"
    assert "unreachable" in raised.value.message
    backend.close()


def test_defaults_are_the_settings() -> None:
    """Without options the backend reaches the model Settings name, over Settings' protocol,
    with Settings' timeout: no second copy of those defaults."""
    backend = TritonBackend("127.0.0.1:1")
    settings = Settings()
    assert (backend.protocol, backend.timeout_s) == (
        settings.triton_protocol,
        settings.triton_timeout_s,
    )
    assert backend._target.model_name == settings.model_name
    backend.close()
