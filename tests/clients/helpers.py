"""Helpers for the Python client's tests: test data paths, goldens, parity checks, and a
request that holds a gateway's only in-flight slot."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from tools.servers.gateway import LiveServer

DATA = Path(__file__).resolve().parents[1] / "data"
CROPS = DATA / "crops"
FRAMES = DATA / "frames"
API_KEY = "client-test-key"

# The "guarded" gateway: API key, one request in flight and no queue (so one held request
# makes the next one a real 503 overloaded), one tracking session, 1 MB bodies, and the
# cascade pipeline next to the default one (``?model=cascade``).
GUARDED_SETTINGS = {
    "FACEMESH_EXTRA_PIPELINES": "cascade",
    "FACEMESH_API_KEYS": API_KEY,
    "FACEMESH_MAX_IN_FLIGHT": "1",
    "FACEMESH_MAX_QUEUE": "0",
    "FACEMESH_TRACKING_MAX_SESSIONS": "1",
    "FACEMESH_MAX_BODY_BYTES": "1000000",
}


def crop_goldens() -> dict[str, np.ndarray]:
    """Crop name -> MediaPipe float64 (478, 3) landmarks in 192x192 crop pixels."""
    items = json.loads((DATA / "crops_goldens.json").read_text())
    return {Path(item["file"]).stem: np.asarray(item["landmarks"]) * 192.0 for item in items}


def cascade_goldens() -> dict[str, np.ndarray]:
    """Crop name -> MediaPipe's non-attention cascade, (478, 3) in crop pixels."""
    items = json.loads((DATA / "crops_cascade_goldens.json").read_text())
    return {
        Path(item["file"]).stem: np.asarray(item["landmarks"]) * 192.0
        for item in items
        if item["landmarks"] is not None
    }


def frame_goldens() -> dict[str, list[np.ndarray]]:
    """Frame file name -> MediaPipe faces, each (478, 3) in frame pixels (z on the x scale)."""
    goldens = {}
    for entry in json.loads((DATA / "frames_goldens.json").read_text()):
        with Image.open(FRAMES / entry["file"]) as image:
            width, height = image.size
        scale = np.array([width, height, width])
        goldens[entry["file"]] = [np.asarray(face) * scale for face in entry["faces"]]
    return goldens


def assert_crop_matches_golden(landmarks: np.ndarray | None, golden: np.ndarray) -> None:
    """The service's own parity bounds on 192x192 crops (x, y mean <= 0.05 px, max <= 0.5
    px; z mean <= 0.1 px)."""
    assert landmarks is not None
    assert landmarks.shape == (478, 3) and landmarks.dtype == np.float64
    error = np.abs(landmarks - golden)
    assert error[:, :2].mean() <= 0.05
    assert error[:, :2].max() <= 0.5
    assert error[:, 2].mean() <= 0.1


def assert_frame_matches_golden(found: list[np.ndarray], expected: list[np.ndarray]) -> None:
    """Same face count, and each MediaPipe face has a found face whose mean 2-D error is at
    most 1% of the face's size (the frame pipeline's parity bound)."""
    assert len(found) == len(expected)
    for want in expected:
        size = float(np.ptp(want[:, :2], axis=0).max())
        best = min(np.linalg.norm(got[:, :2] - want[:, :2], axis=1).mean() for got in found)
        assert best / size <= 0.01, (best, size)


def overloaded_count(server: LiveServer) -> float:
    """``facemesh_errors_total{code="overloaded"}`` from the server's ``/metrics``."""
    text = server.client().get("/metrics/").text
    for line in text.splitlines():
        if line.startswith('facemesh_errors_total{code="overloaded"}'):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError("no overloaded error series in /metrics")


class HeldSlot:
    """Holds the guarded gateway's only in-flight slot with a real request whose body stays
    half-sent until :meth:`release` (the server admits a request before reading its body)."""

    def __init__(self, server: LiveServer, body: bytes) -> None:
        self.server = server
        self._release = threading.Event()
        self.status: int | None = None

        def content() -> Iterator[bytes]:
            yield body[: len(body) // 2]
            self._release.wait(timeout=120)
            yield body[len(body) // 2 :]

        def run() -> None:
            with httpx.Client(base_url=server.base_url, timeout=120) as client:
                response = client.post(
                    "/v1/crop",
                    content=content(),
                    headers={"Content-Type": "image/png", "X-API-Key": API_KEY},
                )
                self.status = response.status_code

        self._thread = threading.Thread(target=run, daemon=True)

    def __enter__(self) -> HeldSlot:
        self._thread.start()
        # Wait until the slot is taken: a probe request is then refused with 503 overloaded.
        with httpx.Client(base_url=self.server.base_url, timeout=30) as probe:
            for _ in range(600):
                response = probe.post(
                    "/v1/frame",
                    content=b"",
                    headers={"Content-Type": "image/png", "X-API-Key": API_KEY},
                )
                if response.status_code == 503:
                    assert response.json()["error"]["code"] == "overloaded"
                    return self
                time.sleep(0.05)
        raise AssertionError("the held request never took the in-flight slot")

    def release(self) -> None:
        self._release.set()

    def __exit__(self, *_: object) -> None:
        self.release()
        self._thread.join(timeout=120)
        assert self.status == 200  # the held request itself was served normally
