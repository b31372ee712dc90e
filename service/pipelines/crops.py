"""Runs one request's crops through decode -> preprocess -> one model call -> postprocess.

Heavy stages run off the event loop: decode/preprocess in Starlette's threadpool, the model
call in a dedicated executor sized by ``Settings.inference_concurrency`` (so concurrent CPU
model calls do not oversubscribe the cores). Postprocess is a few hundred microseconds of
NumPy and runs on the loop. Each stage is timed into
``facemesh_stage_duration_seconds``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from starlette.concurrency import run_in_threadpool

from service import metrics
from service.contract import ModelOutputs
from service.core.config import Settings
from service.core.errors import InvalidImage
from service.inference.base import InferenceBackend
from service.processing.decode import decode_image, load_codecs
from service.processing.postprocess import FaceResult, postprocess
from service.processing.preprocess import CropTransform, preprocess

T = TypeVar("T")


@contextmanager
def timed(stage: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        metrics.STAGE_SECONDS.labels(stage=stage).observe(time.perf_counter() - start)


@dataclass(frozen=True)
class PreparedCrop:
    """One decoded crop: uint8 [192, 192, 3], its ``CropTransform`` and stage durations."""

    crop: np.ndarray
    transform: CropTransform
    decode_s: float
    preprocess_s: float


class CropPipeline:
    """Stateless apart from the backend and its executor; shared by all requests."""

    def __init__(
        self, backend: InferenceBackend, settings: Settings, name: str = "attention"
    ) -> None:
        self.backend = backend
        self.name = name  # "attention" or "cascade": the pipeline ``backend`` runs
        self._settings = settings
        self._executor = ThreadPoolExecutor(
            max_workers=settings.inference_concurrency, thread_name_prefix="inference"
        )
        load_codecs()

    def prepare(self, payload: bytes, index: int, count: int) -> PreparedCrop:
        """Decode and preprocess one payload (blocking; Pillow releases the GIL, so a batch's
        images are prepared in parallel). Errors in a batch name the failing image."""
        start = time.perf_counter()
        try:
            image = decode_image(
                payload,
                min_side=self._settings.min_image_side,
                max_pixels=self._settings.max_image_pixels,
            )
        except InvalidImage as exc:
            if count > 1:
                exc.message = f"image {index}: {exc.message}"
            raise
        decoded = time.perf_counter()
        crop, transform = preprocess(image)
        return PreparedCrop(crop, transform, decoded - start, time.perf_counter() - decoded)

    def _infer(self, images: np.ndarray) -> ModelOutputs:
        with timed("inference"):
            return self.backend.infer(images)

    async def _off_loop(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def run(self, payloads: Sequence[bytes]) -> list[FaceResult]:
        """All stages for one request; one model call for the whole batch.

        ``decode`` and ``preprocess`` observations are summed over the request's images (they
        run in parallel, so they can exceed the request's wall time); the others are wall time.
        """
        start = time.perf_counter()
        count = len(payloads)
        try:
            prepared = await asyncio.gather(
                *(run_in_threadpool(self.prepare, p, i, count) for i, p in enumerate(payloads))
            )
        except InvalidImage:
            metrics.STAGE_SECONDS.labels(stage="decode").observe(time.perf_counter() - start)
            raise
        metrics.STAGE_SECONDS.labels(stage="decode").observe(sum(p.decode_s for p in prepared))
        metrics.STAGE_SECONDS.labels(stage="preprocess").observe(
            sum(p.preprocess_s for p in prepared)
        )
        metrics.BATCH_SIZE.observe(count)
        batch = np.stack([p.crop for p in prepared])
        outputs = await self._off_loop(lambda: self._infer(batch))
        with timed("postprocess"):
            results = postprocess(
                outputs, [p.transform for p in prepared], self._settings.score_threshold
            )
        for result in results:
            outcome = "face" if result.landmarks is not None else "below_threshold"
            metrics.CROPS.labels(outcome=outcome).inc()
        metrics.STAGE_SECONDS.labels(stage="total").observe(time.perf_counter() - start)
        return results

    async def is_ready(self) -> bool:
        """Asks the backend off the event loop (a remote backend may do I/O)."""
        return await run_in_threadpool(self.backend.is_ready)

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self.backend.close()
