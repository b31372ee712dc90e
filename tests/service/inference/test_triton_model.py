"""``service/inference/triton_model.py``: Triton's model metadata checked against the
contract, and readiness bounded by its own timeout (a server that never answers)."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest

from service.contract import ATTENTION_SPEC, MODEL_OUTPUTS
from service.inference.triton_model import READY_TIMEOUT_S, TritonModel, check_metadata

# Far above the readiness timeout: what a readiness check that ignored it would wait for.
CLIENT_TIMEOUT_S = 30.0


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


def _given_timeout(message: str) -> float:
    found = re.search(r"timed out after ([0-9.e-]+) s", message)
    assert found, message
    return float(found.group(1))


def test_http_readiness_is_bounded_by_the_readiness_timeout(
    silent_server: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Readiness gives each call at most ``READY_TIMEOUT_S``, not the inference timeout."""
    model = TritonModel(
        silent_server,
        spec=ATTENTION_SPEC,
        model_name="facemesh",
        protocol="http",
        timeout_s=CLIENT_TIMEOUT_S,
    )
    try:
        with caplog.at_level(logging.INFO, logger="service.inference.triton_model"):
            assert model.is_ready() is False
        messages = [record.getMessage() for record in caplog.records]
        assert len(messages) == 1, messages
        assert 0 < _given_timeout(messages[0]) <= READY_TIMEOUT_S < CLIENT_TIMEOUT_S
    finally:
        model.close()
