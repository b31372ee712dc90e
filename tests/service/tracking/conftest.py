"""The real frame pipeline (ONNX Runtime, CPU) and a helper that runs a clip through one
tracking session exactly as the WebSocket and gRPC streams do (``track_frame``)."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from websockets.sync.client import connect

from service.api import schemas
from service.pipelines.frames import FramePipeline
from service.pipelines.results import FrameResult
from service.tracking.sessions import SessionStore
from service.tracking.smoothing import OneEuroParams
from service.tracking.tracker import track_frame
from tools.servers.gateway import LiveServer

DETECTOR_PATH = Path(__file__).resolve().parents[3] / "model_repository/face_detector/1/model.onnx"
DATA = Path(__file__).resolve().parents[2] / "data"

RunSession = Callable[[list[bytes], int, OneEuroParams | None], list[FrameResult]]


def png(image: np.ndarray) -> bytes:
    """uint8 [H, W, 3] RGB -> PNG bytes (lossless, so the noise added is what is sent)."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def noisy_photo_clip(name: str, count: int, seed: int, sigma: float = 6.0) -> list[bytes]:
    """``count`` PNG frames of ``tests/data/frames/<name>``, each with fresh Gaussian noise of
    ``sigma`` (so smoothing shows)."""
    photo = np.asarray(Image.open(DATA / "frames" / name).convert("RGB")).astype(float)
    rng = np.random.default_rng(seed)
    return [
        png(np.clip(photo + rng.normal(0, sigma, photo.shape), 0, 255).astype(np.uint8))
        for _ in range(count)
    ]


def track_over_websocket(
    server: LiveServer, clip: list[bytes], query: str = ""
) -> list[dict[str, Any]]:
    """``clip`` through one ``/v1/track`` session of ``server`` (``query``: e.g.
    ``"?smoothing=false"``): every answer, each checked against ``schemas.FrameResponse``."""
    url = server.base_url.replace("http://", "ws://") + "/v1/track" + query
    answers = []
    with connect(url, open_timeout=60) as ws:
        for payload in clip:
            ws.send(payload)
            answers.append(json.loads(ws.recv(timeout=120)))
    for answer in answers:
        schemas.FrameResponse.model_validate(answer)
    return answers


@pytest.fixture(scope="module")
def server(model_path: Path, grpc_live_server: Callable[..., tuple[LiveServer, str]]) -> LiveServer:
    """A real gateway with the gRPC stream on (shared by every module asking for the same
    settings); ``server.env["grpc_target"]`` is its gRPC ``host:port``."""
    if not DETECTOR_PATH.is_file():
        pytest.skip(f"{DETECTOR_PATH} missing: run `make model`")
    live, target = grpc_live_server({})
    live.env["grpc_target"] = target
    return live


@pytest.fixture(scope="module")
def run_session(frames: FramePipeline) -> RunSession:
    """``run_session(payloads, max_faces, smoothing)`` -> every frame's result, in order."""

    def run(
        payloads: list[bytes], max_faces: int, smoothing: OneEuroParams | None
    ) -> list[FrameResult]:
        async def go() -> list[FrameResult]:
            store = SessionStore(max_sessions=1, ttl_s=600.0)
            session = store.open(max_faces, None, smoothing)
            return [
                await track_frame(frames, store, session.session_id, payload)
                for payload in payloads
            ]

        return asyncio.run(go())

    return run
