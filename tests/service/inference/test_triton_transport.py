"""The Triton transports honour each call's own timeout, against a real TCP server that
accepts connections and never answers (what a frozen Triton looks like)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from service.contract import ATTENTION_SPEC
from service.inference.triton_transport import Failed, HttpTransport, TritonTarget

# Far above every timeout a call is given below: the HTTP client's own socket timeout, which
# a call that ignored its timeout would wait for instead.
CLIENT_TIMEOUT_S = 30.0


def _given_timeout(message: str) -> float:
    found = re.search(r"timed out after ([0-9.e-]+) s", message)
    assert found, message
    return float(found.group(1))


@pytest.mark.parametrize("timeout_s", [0.2, 0.5])
def test_http_call_ends_at_the_timeout_it_was_given(silent_server: str, timeout_s: float) -> None:
    transport = HttpTransport(
        TritonTarget(silent_server, "facemesh", "1", ATTENTION_SPEC), CLIENT_TIMEOUT_S
    )
    try:
        with pytest.raises(Failed) as readiness:
            transport.model_ready(timeout_s)
        assert _given_timeout(str(readiness.value)) == timeout_s
        # The client was replaced (its connection was left mid-request); the next call, an
        # inference, gets its own timeout too.
        with pytest.raises(Failed) as inference:
            transport.infer(np.zeros((1, 192, 192, 3), np.uint8), timeout_s)
        assert _given_timeout(str(inference.value)) == timeout_s
    finally:
        transport.close()
