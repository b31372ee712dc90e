"""``service/inference/triton.py`` without a Triton server: the metadata check against the
contract, argument validation, a caller's bad input, and nothing listening (unavailable)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from service.contract import ATTENTION_SPEC, MODEL_OUTPUTS
from service.core.config import Settings
from service.core.errors import BackendUnavailable
from service.inference.base import InferenceBackend
from service.inference.triton import TritonBackend, from_settings
from service.inference.triton_model import check_metadata
from tools.servers.ports import free_port


def metadata() -> dict[str, Any]:
    """What Triton reports for model_repository/facemesh (batch dim as -1)."""
    return {
        "name": "facemesh",
        "inputs": [{"name": "image", "datatype": "UINT8", "shape": ["-1", "192", "192", "3"]}],
        "outputs": [
            {"name": name, "datatype": "FP32", "shape": [-1, *(shape or (1,))]}
            for name, shape in MODEL_OUTPUTS.items()
        ],
    }


def test_metadata_of_the_contract_passes() -> None:
    check_metadata(metadata(), ATTENTION_SPEC)


@pytest.mark.parametrize(
    "break_it",
    [
        lambda m: m["inputs"][0].update(datatype="FP32"),
        lambda m: m["inputs"][0].update(shape=[-1, 256, 256, 3]),
        lambda m: m["outputs"].pop(),
        lambda m: m["outputs"][0].update(name="points"),
        lambda m: m["outputs"][1].update(shape=[-1, 468, 2]),
        lambda m: m["outputs"][2].update(datatype="FP16"),
    ],
    ids=["input-dtype", "input-shape", "missing-output", "renamed-output", "shape", "dtype"],
)
def test_metadata_mismatch_is_reported(break_it: Any) -> None:
    broken = metadata()
    break_it(broken)
    with pytest.raises(ValueError, match=r"Triton (input|output)"):
        check_metadata(broken, ATTENTION_SPEC)


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
