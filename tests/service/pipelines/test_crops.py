"""CropPipeline keeps the model off the event loop: while a model call is blocked, the same
uvicorn server still answers /healthz, /readyz and /metrics; and it decodes on the loop only a
request's single image that is small both on the wire and decoded.

The backend here blocks inside ``infer`` until the test releases it, so the check is about
ordering, not timing; if inference ran on the event loop, /healthz could not be answered
before the release and the bounded wait below would expire.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
import uvicorn

from service.contract import MODEL_OUTPUTS, ModelOutputs
from service.core.config import Settings
from service.main import create_app
from service.pipelines.crops import (
    INLINE_DECODE_MAX_BYTES,
    INLINE_DECODE_MAX_PIXELS,
    CropPipeline,
    PreparedCrop,
    decodes_inline,
)
from service.pipelines.decode_budget import DecodeBudget
from service.processing.decode import Header, probe
from tests.service.imagekit import crop_bytes, raw_png

WAIT_S = 60.0  # deadlock guard, not a speed requirement


class BlockingBackend:
    """Contract-shaped outputs, returned only once ``release`` is set."""

    name = "blocking"
    batch_sizes: tuple[int, ...] = ()

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def infer(self, images: np.ndarray) -> ModelOutputs:
        self.entered.set()
        self.release.wait(WAIT_S)
        n = len(images)
        named = {k: np.full((n, *s), 96.0, np.float32) for k, s in MODEL_OUTPUTS.items()}
        named["face_score"] = np.ones(n, np.float32)
        return ModelOutputs.from_named(named)

    def is_ready(self) -> bool:
        return True

    def close(self) -> None:
        self.release.set()


@pytest.fixture
def blocked_server() -> Iterator[tuple[str, BlockingBackend]]:
    backend = BlockingBackend()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app = create_app(Settings(), backends={"attention": backend})
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + WAIT_S
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    try:
        yield base_url, backend
    finally:
        backend.release.set()
        server.should_exit = True
        thread.join(WAIT_S)


def test_server_answers_while_a_model_call_is_blocked(
    blocked_server: tuple[str, BlockingBackend],
) -> None:
    base_url, backend = blocked_server
    result: dict[str, httpx.Response] = {}

    def post_crop() -> None:
        result["crop"] = httpx.post(
            f"{base_url}/v1/crop",
            content=crop_bytes("lenna_face0"),
            headers={"Content-Type": "image/png"},
            timeout=WAIT_S,
        )

    poster = threading.Thread(target=post_crop)
    poster.start()
    assert backend.entered.wait(WAIT_S), "the model was never called"

    with httpx.Client(base_url=base_url, timeout=WAIT_S) as probe:
        # All answered while infer() is still blocked (release not set yet).
        assert probe.get("/healthz").status_code == 200
        assert probe.get("/readyz").status_code == 200
        metrics = probe.get("/metrics/").text
    assert not backend.release.is_set()
    assert 'facemesh_http_requests_in_flight{endpoint="/v1/crop"} 1.0' in metrics

    backend.release.set()
    poster.join(WAIT_S)
    assert result["crop"].status_code == 200
    assert result["crop"].json()["faces"][0]["landmarks"][0] == [96.0, 96.0, 96.0]


# --- which decodes run on the event loop ------------------------------------------------------

LIMITS = {"min_side": 32, "max_pixels": 16_000_000}


def _header(data: bytes) -> Header:
    return probe(data, **LIMITS)


def test_a_small_file_that_decodes_large_is_not_decoded_on_the_loop() -> None:
    """The choice follows the decoded size: a 124 KB 16-bit 4000x4000 PNG (16 MP) is small on
    the wire but never decoded inline; a 192x192 crop is."""
    amplifier = raw_png(4000, 4000, 16, 6, None)
    assert len(amplifier) <= INLINE_DECODE_MAX_BYTES
    assert not decodes_inline(_header(amplifier), len(amplifier), 1)
    crop = crop_bytes("lenna_face0")
    assert decodes_inline(_header(crop), len(crop), 1)
    assert not decodes_inline(_header(crop), len(crop), 2)  # a batch: threadpool, in parallel
    assert not decodes_inline(_header(crop), INLINE_DECODE_MAX_BYTES + 1, 1)
    side = int(INLINE_DECODE_MAX_PIXELS**0.5)
    assert decodes_inline(Header("PNG", "RGB", side, side), 1000, 1)
    assert not decodes_inline(Header("PNG", "RGB", side + 1, side), 1000, 1)


class _RecordingPipeline(CropPipeline):
    """The real pipeline, noting the thread each decode ran on."""

    threads: list[int]

    def prepare(self, payload: bytes, header: Header, index: int, count: int) -> PreparedCrop:
        self.threads.append(threading.get_ident())
        return super().prepare(payload, header, index, count)


@pytest.mark.parametrize(
    ("data", "inline"),
    [(crop_bytes("lenna_face0"), True), (raw_png(2000, 2000, 8, 0, None), False)],
    ids=["crop", "4-MP-png-of-4-KB"],
)
def test_the_pipeline_decodes_inline_only_what_the_rule_allows(data: bytes, inline: bool) -> None:
    settings = Settings()
    pipeline = _RecordingPipeline(
        None,  # type: ignore[arg-type]  # no model call in this test
        settings,
        None,  # type: ignore[arg-type]
        budget=DecodeBudget.from_settings(settings),
    )
    pipeline.threads = []

    async def prepare_one() -> int:
        header = pipeline.probe(data, 0, 1)
        await pipeline._prepare_held(data, header, 0, 1)
        return threading.get_ident()

    loop_thread = asyncio.run(prepare_one())
    assert (pipeline.threads == [loop_thread]) is inline
