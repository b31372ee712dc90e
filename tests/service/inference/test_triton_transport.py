"""The Triton transports honour each call's own timeout, against a real TCP server that
accepts connections and never answers (what a frozen Triton looks like)."""

from __future__ import annotations

import logging
import re
import socket
import threading
from collections.abc import Iterator

import numpy as np
import pytest

from service.contract import ATTENTION_SPEC
from service.inference.triton_model import READY_TIMEOUT_S, TritonModel
from service.inference.triton_transport import Failed, HttpTransport, TritonTarget

# Far above every timeout a call is given below: the HTTP client's own socket timeout, which
# a call that ignored its timeout would wait for instead.
CLIENT_TIMEOUT_S = 30.0


@pytest.fixture
def silent_server() -> Iterator[str]:
    """``host:port`` of a server that accepts every connection and never sends a byte."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            held.append(connection)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
    listener.close()
    for connection in held:
        connection.close()
    thread.join(timeout=5)


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


def test_http_readiness_is_bounded_by_the_readiness_timeout(
    silent_server: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Readiness gives each call at most ``READY_TIMEOUT_S``, not the inference timeout."""
    model = TritonModel(
        silent_server, spec=ATTENTION_SPEC, protocol="http", timeout_s=CLIENT_TIMEOUT_S
    )
    try:
        with caplog.at_level(logging.INFO, logger="service.inference.triton_model"):
            assert model.is_ready() is False
        messages = [record.getMessage() for record in caplog.records]
        assert len(messages) == 1, messages
        assert 0 < _given_timeout(messages[0]) <= READY_TIMEOUT_S < CLIENT_TIMEOUT_S
    finally:
        model.close()
