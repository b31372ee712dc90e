"""Overload: many clients posting 16-crop batches back to back, against a gateway started with
low admission limits (the runner's ``burst`` profile sets ``FACEMESH_MAX_IN_FLIGHT=2``,
``FACEMESH_MAX_QUEUE=4``).

Two outcomes are correct and reported under separate names: ``/v1/crops`` (200, every face
checked as in ``batch.py``) and ``/v1/crops [shed]`` (503 with ``Retry-After`` and the JSON
error code ``overloaded``). Anything else (a 500, a 503 without ``Retry-After``, a wrong
body, a reset connection) is a failure. The runner's RSS samples show memory stays bounded.

    python -m loadtests.run --profiles burst --users 20 --stages 20 --run-time 30
"""

from __future__ import annotations

import random
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from locust import FastHttpUser, constant, task

from loadtests.checks import check_faces_body
from loadtests.locustfiles.common import decode_json
from loadtests.payloads import crop_payloads, sample_crops
from loadtests.wire import multipart_body

crop_payloads()
BATCH = 16


class BurstUser(FastHttpUser):
    """No think time: each client sends its next batch as soon as the last one is answered."""

    wait_time = constant(0)

    def on_start(self) -> None:
        self.rng = random.Random()

    @task
    def post_crops(self) -> None:
        payloads = sample_crops(self.rng, BATCH)
        parts = [("image", f"crop{i}", p.data, p.content_type) for i, p in enumerate(payloads)]
        body_bytes, content_type = multipart_body(parts, uuid.uuid4().hex)
        with self.client.post(
            "/v1/crops",
            data=body_bytes,
            headers={"Content-Type": content_type},
            name="/v1/crops",
            catch_response=True,
            context={"items": BATCH},
        ) as response:
            body, problem = decode_json(response)
            if response.status_code == 503:
                code = (body or {}).get("error", {}).get("code") if isinstance(body, dict) else None
                if code != "overloaded" or not response.headers.get("Retry-After"):
                    response.failure(f"503 without overloaded + Retry-After: {code}")
                    return
                response.request_meta["name"] = "/v1/crops [shed]"
                response.request_meta["context"] = {"items": 0}
                response.success()
                return
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")
                return
            problem = problem or check_faces_body(body, [p.expected for p in payloads])
            if problem:
                response.failure(problem)
            else:
                response.success()
