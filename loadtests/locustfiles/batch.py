"""Batches: ``POST /v1/crops``, multipart with one ``image`` field per crop.

Batch sizes follow ``payloads.BATCH_SIZES`` (mostly 2-4 faces from one frame, sometimes a
group photo), capped by ``FACEMESH_LOADTEST_MAX_BATCH`` when the gateway's limit is lower.
Every item of every body is checked; one bad face fails the request.

    locust -f loadtests/locustfiles/batch.py --headless -u 10 -r 5 -t 30s \
        --host http://127.0.0.1:8000
"""

from __future__ import annotations

import os
import random
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from locust import FastHttpUser, constant_throughput, task

from loadtests.checks import check_faces_body
from loadtests.locustfiles.common import decode_json
from loadtests.payloads import crop_payloads, sample_batch_size, sample_crops
from loadtests.wire import multipart_body

crop_payloads()

MAX_BATCH = int(os.environ.get("FACEMESH_LOADTEST_MAX_BATCH", "0")) or None
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png"}


class BatchCropsUser(FastHttpUser):
    """A client that cut several faces out of one frame and sends them together."""

    wait_time = constant_throughput(4)

    def on_start(self) -> None:
        self.rng = random.Random()

    @task
    def post_crops(self) -> None:
        count = sample_batch_size(self.rng, MAX_BATCH)
        payloads = sample_crops(self.rng, count)
        parts = [
            ("image", f"crop{i}.{EXTENSIONS[p.content_type]}", p.data, p.content_type)
            for i, p in enumerate(payloads)
        ]
        body_bytes, content_type = multipart_body(parts, uuid.uuid4().hex)
        with self.client.post(
            "/v1/crops",
            data=body_bytes,
            headers={"Content-Type": content_type},
            name="/v1/crops",
            catch_response=True,
            context={"items": count},
        ) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code} on a batch of {count}")
                return
            body, problem = decode_json(response)
            problem = problem or check_faces_body(body, [p.expected for p in payloads])
            if problem:
                names = ",".join(p.name for p in payloads)
                response.failure(f"batch of {count} [{names}]: {problem}")
            else:
                response.success()
