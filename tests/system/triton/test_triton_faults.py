"""Triton failures seen through the gateway: killed mid-load, frozen, restarted.

Each test has its own tritonserver (``own_triton``) and its own gateway on it. Waiting loops
are bounded (they fail instead of hanging) but no duration is asserted: what is checked is that
every request ends with a result or a 503 JSON error, never a 500, a dropped connection or a
client-side timeout, and that traffic recovers without restarting the gateway.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.system.triton.conftest import assert_same_json, gateway_settings
from tools.servers.triton import LocalTriton

pytestmark = [pytest.mark.triton, pytest.mark.slow]

GATEWAY_TIMEOUT_S = 3.0
# Client timeout: far above the gateway's own deadline, so a client timeout means a hang.
CLIENT_TIMEOUT_S = GATEWAY_TIMEOUT_S + 60.0
WAIT_LIMIT_S = 120.0  # bound on polling loops
CLIENTS = 6
MAX_REQUESTS_PER_CLIENT = 400  # load loops are bounded in count as well as by the stop flag


def post_crop(http: httpx.Client, body: bytes) -> httpx.Response:
    return http.post("/v1/crop", content=body, headers={"content-type": "image/png"})


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"]["code"] == "backend_unavailable"
    assert int(response.headers["retry-after"]) > 0


def wait_until(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_LIMIT_S
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting ({WAIT_LIMIT_S:g} s) for {what}")
        time.sleep(0.1)


def status_of(http: httpx.Client, path: str) -> int:
    return http.get(path).status_code


def start_gateway(
    live_server: Callable[[Mapping[str, str]], Any], server: LocalTriton, protocol: str
) -> Any:
    return live_server(
        gateway_settings(server, protocol, FACEMESH_TRITON_TIMEOUT_S=str(GATEWAY_TIMEOUT_S))
    )


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_triton_killed_mid_load_then_restarted(
    protocol: str,
    own_triton: LocalTriton,
    live_server: Callable[[Mapping[str, str]], Any],
    crop_paths: list[Path],
) -> None:
    gateway = start_gateway(live_server, own_triton, protocol)
    body = crop_paths[0].read_bytes()
    outcomes: list[httpx.Response | Exception] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client() -> None:
        with httpx.Client(base_url=gateway.base_url, timeout=CLIENT_TIMEOUT_S) as http:
            for _ in range(MAX_REQUESTS_PER_CLIENT):
                if stop.is_set():
                    return
                outcome: httpx.Response | Exception
                try:
                    outcome = post_crop(http, body)
                except httpx.HTTPError as exc:  # recorded, then asserted absent
                    outcome = exc
                with lock:
                    outcomes.append(outcome)

    def count(status: int) -> int:
        with lock:
            return sum(isinstance(o, httpx.Response) and o.status_code == status for o in outcomes)

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: count(200) >= 2 * CLIENTS, "requests to succeed before the kill")
        own_triton.kill()
        wait_until(lambda: count(503) >= 2 * CLIENTS, "503s after the kill")
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=CLIENT_TIMEOUT_S * 2)
    assert not any(thread.is_alive() for thread in threads), "a client hung"

    errors = [o for o in outcomes if isinstance(o, Exception)]
    assert errors == [], "every request must end with an HTTP answer"
    responses = [o for o in outcomes if isinstance(o, httpx.Response)]
    assert {r.status_code for r in responses} == {200, 503}
    for response in responses:
        if response.status_code == 200:
            assert len(response.json()["faces"]) == 1
        else:
            assert_unavailable(response)

    http = httpx.Client(base_url=gateway.base_url, timeout=CLIENT_TIMEOUT_S)
    assert_unavailable(http.get("/readyz"))
    assert status_of(http, "/healthz") == 200  # the gateway itself is alive

    own_triton.start()  # same ports, as a restarted Triton behind a fixed address
    wait_until(lambda: status_of(http, "/readyz") == 200, "the gateway to see Triton again")
    again = post_crop(http, body)
    assert again.status_code == 200
    first_success = next(r for r in responses if r.status_code == 200)
    assert_same_json(again.json()["faces"], first_success.json()["faces"])


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_frozen_triton_times_out_with_503_then_recovers(
    protocol: str,
    own_triton: LocalTriton,
    live_server: Callable[[Mapping[str, str]], Any],
    crop_paths: list[Path],
) -> None:
    """A hung Triton (SIGSTOP: connections accepted, nothing answered) costs a request the
    configured timeout and a 503, not a hang."""
    gateway = start_gateway(live_server, own_triton, protocol)
    http = httpx.Client(base_url=gateway.base_url, timeout=CLIENT_TIMEOUT_S)
    body = crop_paths[0].read_bytes()
    assert post_crop(http, body).status_code == 200
    own_triton.freeze()
    try:
        assert_unavailable(post_crop(http, body))
        assert_unavailable(http.get("/readyz"))
    finally:
        own_triton.thaw()
    wait_until(lambda: status_of(http, "/readyz") == 200, "readiness after thawing")
    assert post_crop(http, body).status_code == 200
