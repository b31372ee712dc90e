"""Overload and shutdown through a real uvicorn server (``python -m service``):

- with a low in-flight + queue limit, a burst gets immediate 503 ``overloaded`` answers with
  ``Retry-After`` and the JSON error, every admitted request completes correctly, and the
  gateway serves normally afterwards;
- SIGTERM while requests are running: every accepted request still gets its full answer.

No timing thresholds: "immediate" is checked as an ordering (every rejection is answered
before the admitted requests are done).
"""

from __future__ import annotations

import re
import signal
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.service.imagekit import crop_bytes
from tools.servers.gateway import start_server

CROP = crop_bytes("dlib_2008_001009_face0")
BATCH = 16
FILES = [("image", (f"c{i}.png", CROP, "image/png")) for i in range(BATCH)]
WAIT_S = 180.0  # upper bound on waiting for the server, never an assertion on speed


def post_batch(base_url: str, results: list[dict[str, Any]], barrier: threading.Barrier) -> None:
    with httpx.Client(base_url=base_url, timeout=WAIT_S) as client:
        barrier.wait()
        try:
            response = client.post("/v1/crops", files=FILES)
            results.append(
                {
                    "status": response.status_code,
                    "headers": response.headers,
                    "body": response.json(),
                    "done": time.monotonic(),
                }
            )
        except httpx.HTTPError as exc:
            results.append({"status": None, "error": repr(exc), "done": time.monotonic()})


def burst(base_url: str, count: int) -> tuple[list[threading.Thread], list[dict[str, Any]]]:
    results: list[dict[str, Any]] = []
    barrier = threading.Barrier(count)
    threads = [
        threading.Thread(target=post_batch, args=(base_url, results, barrier)) for _ in range(count)
    ]
    for thread in threads:
        thread.start()
    return threads, results


def assert_full_answer(result: dict[str, Any]) -> None:
    assert result["status"] == 200, result
    faces = result["body"]["faces"]
    assert len(faces) == BATCH
    assert all(face["landmarks"] is not None and len(face["landmarks"]) == 478 for face in faces)


def in_flight(base_url: str, endpoint: str) -> float:
    text = httpx.get(f"{base_url}/metrics/", timeout=10).text
    match = re.search(
        rf'^facemesh_http_requests_in_flight\{{endpoint="{re.escape(endpoint)}"\}} (\S+)$',
        text,
        flags=re.MULTILINE,
    )
    assert match, "in-flight gauge missing"
    return float(match.group(1))


@pytest.mark.slow
def test_burst_past_the_queue_gets_fast_503s_and_admitted_requests_complete(
    model_path: Path, live_server: Callable[[Mapping[str, str]], Any]
) -> None:
    server = live_server(
        {
            "FACEMESH_MAX_IN_FLIGHT": "1",
            "FACEMESH_MAX_QUEUE": "2",
            "FACEMESH_QUEUE_TIMEOUT_S": str(WAIT_S),
        }
    )
    threads, results = burst(server.base_url, 12)
    for thread in threads:
        thread.join(WAIT_S)
    assert len(results) == 12
    admitted = [r for r in results if r["status"] == 200]
    rejected = [r for r in results if r["status"] == 503]
    assert len(admitted) + len(rejected) == 12, [r["status"] for r in results]
    assert len(admitted) >= 1 and len(rejected) >= 1
    for result in admitted:
        assert_full_answer(result)
    for result in rejected:
        assert result["body"]["error"]["code"] == "overloaded"
        assert result["body"]["error"]["message"]
        assert int(result["headers"]["Retry-After"]) >= 1
        assert result["headers"]["X-Request-ID"]
    # Rejections do not wait for the model: all of them are answered before the admitted
    # requests (served one at a time) are all done.
    assert max(r["done"] for r in rejected) < max(r["done"] for r in admitted)
    # After the burst the gateway serves normally and the queue is empty again.
    with httpx.Client(base_url=server.base_url, timeout=WAIT_S) as client:
        assert client.get("/readyz").status_code == 200
        assert_full_answer(
            {"status": (r := client.post("/v1/crops", files=FILES)).status_code, "body": r.json()}
        )
    assert in_flight(server.base_url, "/v1/crops") == 0


@pytest.mark.slow
def test_sigterm_drains_every_accepted_request(model_path: Path, tmp_path: Path) -> None:
    server = start_server(
        {
            "FACEMESH_MAX_IN_FLIGHT": "2",
            "FACEMESH_MAX_QUEUE": "32",
            "FACEMESH_QUEUE_TIMEOUT_S": str(WAIT_S),
            "FACEMESH_SHUTDOWN_TIMEOUT_S": str(WAIT_S),
        },
        tmp_path,
    )
    try:
        count = 8
        threads, results = burst(server.base_url, count)
        # Wait until the server holds every request (in flight, queued, or already answered).
        deadline = time.monotonic() + WAIT_S
        while in_flight(server.base_url, "/v1/crops") + len(results) < count:
            assert time.monotonic() < deadline, "requests never reached the server"
            time.sleep(0.01)
        assert len(results) < count, "all requests finished before SIGTERM; nothing to drain"
        server.process.send_signal(signal.SIGTERM)
        for thread in threads:
            thread.join(WAIT_S)
        assert len(results) == count
        for result in results:
            assert_full_answer(result)
        returncode = server.process.wait(WAIT_S)
        assert returncode in (0, -signal.SIGTERM), server.log()
    finally:
        server.stop()
