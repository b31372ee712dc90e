"""Decoded-memory bounds of a real ``python -m service``: peak RSS growth (psutil, sampled
every few ms) for the issue's amplification attack, sixteen 16-bit RGBA 4000x4000 PNGs of
~124 KB each in one ``/v1/crops`` (3.5 GB decoded), alone and four at once, and for four
concurrent requests whose images each fit the budget.

Documented bound (README, "Reliability"): peak RSS growth stays under
``FACEMESH_DECODE_MEMORY_BYTES`` plus the request bodies plus about 100 MB of working
memory (crops, model, JSON); the memory is handed back when the images are done.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import httpx
import psutil
import pytest

from tests.service.imagekit import raw_png

MIB = 1024 * 1024
DECODE_BUDGET = 256 * MIB
SLACK = 120 * MIB  # working memory besides decoded images (bodies, crops, model, JSON)
MEMORY = {
    "FACEMESH_DECODE_MEMORY_BYTES": str(DECODE_BUDGET),
    "FACEMESH_QUEUE_TIMEOUT_S": "60",  # waiting for the budget is fine here, not a 503
}
SIDE = 4000  # 16 M pixels: the default FACEMESH_MAX_IMAGE_PIXELS


@pytest.fixture(scope="module")
def rgba16() -> bytes:
    """A blank 16-bit RGBA 4000x4000 PNG: ~124 KB posted, 64 MB as Pillow holds it."""
    return raw_png(SIDE, SIDE, 16, 6, None)


@pytest.fixture(scope="module")
def memory_gateway(model_path: Any, live_server: Any) -> Any:
    return live_server(MEMORY)


@pytest.fixture(scope="module")
def fresh_gateway(model_path: Any, live_server: Any) -> Any:
    """A server of its own (settings differ in a value that plays no part here), so its heap
    holds nothing freed by the other tests that it could reuse."""
    return live_server({**MEMORY, "FACEMESH_MIN_IMAGE_SIDE": "33"})


@contextmanager
def peak_rss_growth(pid: int) -> Iterator[Callable[[], int]]:
    """Samples the process's RSS until the block ends; yields ``growth()`` -> peak - start."""
    process = psutil.Process(pid)
    start = process.memory_info().rss
    peak = start
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, process.memory_info().rss)
            time.sleep(0.002)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield lambda: peak - start
    finally:
        done.set()
        sampler.join()


def _crops(server: Any, images: list[bytes]) -> httpx.Response:
    with server.new_client() as client:
        return client.post(
            "/v1/crops", files=[("image", ("a.png", image, "image/png")) for image in images]
        )


def _crop(server: Any, image: bytes) -> httpx.Response:
    with server.new_client() as client:
        return client.post("/v1/crop", content=image, headers={"Content-Type": "image/png"})


def _settle(server: Any) -> None:
    """A finished request's memory has been freed (the server answers the next one)."""
    assert httpx.get(f"{server.base_url}/healthz", timeout=30).status_code == 200


def test_sixteen_large_pngs_in_one_request_are_refused_from_their_headers(
    memory_gateway: Any, rgba16: bytes
) -> None:
    _settle(memory_gateway)
    with peak_rss_growth(memory_gateway.process.pid) as growth:
        response = _crops(memory_gateway, [rgba16] * 16)
    assert response.status_code == 413, response.text
    assert response.json()["error"]["code"] == "decode_budget_exceeded"
    assert growth() < SLACK, f"{growth() / MIB:.0f} MiB"


def test_four_such_requests_at_once_stay_bounded(memory_gateway: Any, rgba16: bytes) -> None:
    _settle(memory_gateway)
    with peak_rss_growth(memory_gateway.process.pid) as growth, ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(lambda _: _crops(memory_gateway, [rgba16] * 16), range(4)))
    assert {r.status_code for r in responses} == {413}
    assert growth() < SLACK, f"{growth() / MIB:.0f} MiB"


def test_concurrent_images_that_fit_share_the_process_budget(
    fresh_gateway: Any, rgba16: bytes
) -> None:
    """Each image alone fits (~224 MB estimated); four at once would take ~900 MB, the
    budget lets them decode one after another."""
    _settle(fresh_gateway)
    process = psutil.Process(fresh_gateway.process.pid)
    before = process.memory_info().rss
    with peak_rss_growth(fresh_gateway.process.pid) as growth, ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(lambda _: _crop(fresh_gateway, rgba16), range(4)))
    assert {r.status_code for r in responses} == {200}, responses[0].text
    assert growth() < DECODE_BUDGET + SLACK, f"{growth() / MIB:.0f} MiB"
    _settle(fresh_gateway)
    # Handed back: no more than the slack is still held once the requests are done.
    assert process.memory_info().rss - before < SLACK
