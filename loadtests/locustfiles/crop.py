"""Single crops: ``POST /v1/crop`` with the raw image as the body (image/jpeg or image/png).

Each simulated client posts one crop at a time from the weighted mix in
``loadtests/payloads.py`` and checks the whole body (``loadtests/checks.py``): a 200 with a
wrong or malformed answer is a failure.

    locust -f loadtests/locustfiles/crop.py --headless -u 10 -r 5 -t 30s \
        --host http://127.0.0.1:8000
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from locust import FastHttpUser, constant_throughput, task

from loadtests.checks import check_faces_body
from loadtests.locustfiles.common import decode_json
from loadtests.payloads import crop_payloads, sample_crops

crop_payloads()  # encode the mix once per process, before the first user starts


class SingleCropUser(FastHttpUser):
    """A phone app sending one face crop per frame, at most ~10 frames/s per client."""

    wait_time = constant_throughput(10)

    def on_start(self) -> None:
        self.rng = random.Random()

    @task
    def post_crop(self) -> None:
        (payload,) = sample_crops(self.rng, 1)
        with self.client.post(
            "/v1/crop",
            data=payload.data,
            headers={"Content-Type": payload.content_type},
            name="/v1/crop",
            catch_response=True,
            context={"items": 1},
        ) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code} on {payload.name}")
                return
            body, problem = decode_json(response)
            problem = problem or check_faces_body(body, [payload.expected])
            if problem:
                response.failure(f"{payload.name}: {problem}")
            else:
                response.success()
