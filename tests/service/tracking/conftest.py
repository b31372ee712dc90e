"""The real frame pipeline (ONNX Runtime, CPU) and a helper that runs a clip through one
tracking session exactly as the WebSocket and gRPC streams do (``track_frame``)."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from service.pipelines.frames import FramePipeline, FrameResult
from service.tracking.sessions import SessionStore
from service.tracking.smoothing import OneEuroParams
from service.tracking.tracker import track_frame

DETECTOR_PATH = Path(__file__).resolve().parents[3] / "model_repository/face_detector/1/model.onnx"

RunSession = Callable[[list[bytes], int, OneEuroParams | None], list[FrameResult]]


def png(image: np.ndarray) -> bytes:
    """uint8 [H, W, 3] RGB -> PNG bytes (lossless, so the noise added is what is sent)."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def frames(
    open_frame_pipeline: Callable[[str], AbstractContextManager[FramePipeline]],
) -> Iterator[FramePipeline]:
    with open_frame_pipeline("openvino") as pipeline:
        yield pipeline


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
