"""Concurrent clients through the gateway are merged into larger batches by Triton.

Shown with Triton's own statistics endpoint: over the load, requests served (inference_count)
per model execution (execution_count) is the average executed batch size. No timing is asserted.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tools.servers.triton import LocalTriton

pytestmark = [pytest.mark.triton, pytest.mark.slow]

CLIENTS = 16
REQUESTS_PER_CLIENT = 6


def test_concurrent_requests_are_dynamically_batched(
    triton: LocalTriton, triton_gateway: Callable[[str], Any], crop_paths: list[Path]
) -> None:
    gateway = triton_gateway("grpc")
    bodies = [path.read_bytes() for path in crop_paths[:CLIENTS]]

    def client(body: bytes) -> list[int]:
        with httpx.Client(base_url=gateway.base_url, timeout=120.0) as http:
            return [
                http.post(
                    "/v1/crop", content=body, headers={"content-type": "image/png"}
                ).status_code
                for _ in range(REQUESTS_PER_CLIENT)
            ]

    before = triton.statistics()
    with ThreadPoolExecutor(CLIENTS) as pool:
        statuses = [status for result in pool.map(client, bodies) for status in result]
    after = triton.statistics()

    assert statuses == [200] * (CLIENTS * REQUESTS_PER_CLIENT)
    inferences = int(after["inference_count"]) - int(before["inference_count"])
    executions = int(after["execution_count"]) - int(before["execution_count"])
    assert inferences == CLIENTS * REQUESTS_PER_CLIENT  # one crop per request, none lost
    average_batch = inferences / executions
    print(f"{inferences} requests in {executions} executions: average batch {average_batch:.2f}")
    assert average_batch > 1.0
