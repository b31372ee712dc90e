"""SIGTERM to the container (what ``podman stop`` / ``docker stop`` / Kubernetes send) while
requests are in flight and queued: every one of them gets its full answer, then the process
exits 0 within the documented grace period (``FACEMESH_SHUTDOWN_TIMEOUT_S``, 30 s by default;
``deploy/`` gives 40 s). The in-process twin is ``tests/service/test_operations.py``."""

from __future__ import annotations

import re
import threading
import time
from typing import Any

import httpx

from tests.clients.helpers import CROPS
from tests.system.image.conftest import FIGURES, engine, run_container

GRACE_S = 30.0  # FACEMESH_SHUTDOWN_TIMEOUT_S's default (docs/settings.md)
WAIT_S = 180.0  # bound on waiting, not a speed assertion
BATCH = 16
CROP = (CROPS / "lenna_face0.png").read_bytes()
FILES = [("image", (f"c{i}.png", CROP, "image/png")) for i in range(BATCH)]


def in_flight(base_url: str) -> float:
    text = httpx.get(f"{base_url}/metrics/", timeout=10).text
    match = re.search(
        r'^facemesh_http_requests_in_flight\{endpoint="/v1/crops"\} (\S+)$', text, re.MULTILINE
    )
    assert match, "in-flight gauge missing"
    return float(match.group(1))


def post(base_url: str, results: list[dict[str, Any]], barrier: threading.Barrier) -> None:
    with httpx.Client(base_url=base_url, timeout=WAIT_S) as client:
        barrier.wait()
        try:
            response = client.post("/v1/crops", files=FILES)
            results.append({"status": response.status_code, "body": response.json()})
        except httpx.HTTPError as exc:
            results.append({"status": None, "error": repr(exc)})


def test_sigterm_drains_in_flight_requests_and_exits_0() -> None:
    container = run_container(
        {
            # Two at a time, the rest queued: SIGTERM lands while most are still waiting.
            "FACEMESH_MAX_IN_FLIGHT": "2",
            "FACEMESH_MAX_QUEUE": "32",
            "FACEMESH_QUEUE_TIMEOUT_S": str(WAIT_S),
        }
    )
    try:
        count = 8
        results: list[dict[str, Any]] = []
        barrier = threading.Barrier(count)
        threads = [
            threading.Thread(target=post, args=(container.base_url, results, barrier))
            for _ in range(count)
        ]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + WAIT_S
        while in_flight(container.base_url) + len(results) < count:
            assert time.monotonic() < deadline, "requests never reached the server"
            time.sleep(0.01)
        assert len(results) < count, "all requests finished before SIGTERM; nothing to drain"
        pending = count - len(results)
        signalled = time.monotonic()
        engine("kill", "--signal", "TERM", container.name)
        exit_code = int(engine("wait", container.name, timeout=WAIT_S).stdout.strip())
        stopped_s = time.monotonic() - signalled
        for thread in threads:
            thread.join(WAIT_S)
        FIGURES["shutdown: SIGTERM to exit"] = f"{stopped_s:.2f} s ({pending} requests drained)"
        assert len(results) == count
        for result in results:
            assert result["status"] == 200, result
            faces = result["body"]["faces"]
            assert len(faces) == BATCH and all(len(f["landmarks"]) == 478 for f in faces)
        assert exit_code == 0, container.logs()
        assert stopped_s < GRACE_S, container.logs()
        assert "Finished server process" in container.logs()
    finally:
        container.remove()
