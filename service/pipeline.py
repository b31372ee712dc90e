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
from service.core.config import Settings
from service.core.errors import InvalidImage
from service.inference.base import InferenceBackend, ModelOutputs
from service.processing.decode import decode_image
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
class PreparedBatch:
    """uint8 [N, 192, 192, 3] model input and one ``CropTransform`` per crop."""

    images: np.ndarray
    transforms: list[CropTransform]


class FaceMeshPipeline:
    """Stateless apart from the backend and its executor; shared by all requests."""

    def __init__(self, backend: InferenceBackend, settings: Settings) -> None:
        self.backend = backend
        self._settings = settings
        self._executor = ThreadPoolExecutor(
            max_workers=settings.inference_concurrency, thread_name_prefix="inference"
        )

    def prepare(self, payloads: Sequence[bytes]) -> PreparedBatch:
        """Decode and preprocess every payload (blocking). Errors name the failing image."""
        decoded: list[np.ndarray] = []
        with timed("decode"):
            for index, payload in enumerate(payloads):
                try:
                    decoded.append(
                        decode_image(
                            payload,
                            min_side=self._settings.min_image_side,
                            max_pixels=self._settings.max_image_pixels,
                        )
                    )
                except InvalidImage as exc:
                    if len(payloads) > 1:
                        exc.message = f"image {index}: {exc.message}"
                    raise
        with timed("preprocess"):
            crops, transforms = zip(*(preprocess(image) for image in decoded), strict=True)
            batch = np.stack(crops)
        return PreparedBatch(batch, list(transforms))

    def _infer(self, images: np.ndarray) -> ModelOutputs:
        with timed("inference"):
            return self.backend.infer(images)

    async def _off_loop(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def run(self, payloads: Sequence[bytes]) -> list[FaceResult]:
        """All stages for one request; one model call for the whole batch."""
        start = time.perf_counter()
        prepared = await run_in_threadpool(self.prepare, payloads)
        metrics.BATCH_SIZE.observe(len(payloads))
        outputs = await self._off_loop(lambda: self._infer(prepared.images))
        with timed("postprocess"):
            results = postprocess(outputs, prepared.transforms, self._settings.score_threshold)
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
