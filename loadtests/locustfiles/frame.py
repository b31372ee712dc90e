"""Whole frames: ``POST /v1/frame``, raw body, every photo in tests/data/frames.

Checks the number of faces against MediaPipe's FaceMesh count in ``frames_goldens.json``
(frames with no face must return ``faces: []``) and every face's shape. Until the gateway
serves ``/v1/frame`` the runner skips this profile (it looks the route up in /openapi.json).

    locust -f loadtests/locustfiles/frame.py --headless -u 4 -r 2 -t 30s \
        --host http://127.0.0.1:8000
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from locust import FastHttpUser, constant_throughput, task

from loadtests.checks import check_frame_body
from loadtests.locustfiles.common import decode_json
from loadtests.payloads import frame_payloads

FRAMES = frame_payloads()


class FrameUser(FastHttpUser):
    """A camera client posting full frames (detector + mesh on the server)."""

    wait_time = constant_throughput(5)

    def on_start(self) -> None:
        self.rng = random.Random()

    @task
    def post_frame(self) -> None:
        frame = self.rng.choice(FRAMES)
        with self.client.post(
            "/v1/frame",
            data=frame.data,
            headers={"Content-Type": frame.content_type},
            name="/v1/frame",
            catch_response=True,
            context={"items": 1},  # throughput in frames/s
        ) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code} on {frame.name}")
                return
            body, problem = decode_json(response)
            problem = problem or check_frame_body(body, frame.faces, frame.width, frame.height)
            if problem:
                response.failure(f"{frame.name}: {problem}")
            else:
                response.success()
