"""Runs one request's crops through decode -> preprocess -> one model call -> postprocess.

The model call runs off the event loop, through the model's one ``ModelCaller``
(``service.inference.batcher``: micro-batched with concurrent requests of every endpoint, on
the model's executor sized by ``Settings.inference_concurrency``). Decode/preprocess run in
Starlette's threadpool, one task per image in parallel, except a request's single small image,
which is decoded on the loop (``decodes_inline``: small by its header's pixel count, not only
by its file size). Header probes (bounded work, ``service.processing.header``) and
postprocess (NumPy, tens to a few hundred microseconds) run on the loop.

Decoded memory is bounded by the process's ``DecodeBudget`` (``decode_budget.py``): each
image's decoded size is estimated from its header first; a request over
``FACEMESH_REQUEST_DECODE_BYTES`` gets 413 before any pixel is decoded, and each image holds
its share of the process-wide budget while its pixels live (JPEG crops decode reduced, never
below 2x the model input). Each stage
is timed into ``facemesh_stage_duration_seconds`` (``inference`` includes the wait for the
batch).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from starlette.concurrency import run_in_threadpool

from service import metrics
from service.contract import MODEL_INPUT_SIZE, ModelOutputs
from service.core.config import Settings
from service.core.errors import InvalidImage
from service.inference.base import InferenceBackend
from service.inference.batcher import ModelCaller
from service.pipelines.blendshapes import (
    Blendshapes,
    require_blendshapes,
    with_crop_blendshapes,
)
from service.pipelines.decode_budget import DecodeBudget
from service.pipelines.measures import crop_faces
from service.pipelines.results import CropFace
from service.processing.decode import Header, load_codecs
from service.processing.postprocess import postprocess
from service.processing.preprocess import CropTransform, preprocess

# JPEG crops larger than twice the model input per side decode reduced.


# A request's single small image (a crop) is decoded on the event loop: the two thread
# hand-offs of the threadpool cost more CPU than they save (benchmarks/crop_e2e.py; figures in
# docs/performance.md). Several images, or larger ones, decode in the threadpool, in parallel.
# "Small" is both: a decode's work follows the decoded size (a 124 KB PNG can hold 16 MP of
# 16-bit pixels) and, for JPEG, the entropy-coded bytes.
INLINE_DECODE_MAX_BYTES = 256 * 1024
INLINE_DECODE_MAX_PIXELS = 512 * 512


def decodes_inline(header: Header, nbytes: int, count: int) -> bool:
    """Whether a request of ``count`` images decodes this one (``nbytes`` long, ``header``
    its probe) on the event loop: a single image, small on the wire and decoded."""
    return (
        count == 1
        and nbytes <= INLINE_DECODE_MAX_BYTES
        and header.width * header.height <= INLINE_DECODE_MAX_PIXELS
    )


@contextmanager
def _named(index: int, count: int) -> Iterator[None]:
    """In a batch, prefix an image's error message with its index."""
    try:
        yield
    except InvalidImage as exc:
        if count > 1:
            exc.message = f"image {index}: {exc.message}"
        raise


@dataclass(frozen=True)
class PreparedCrop:
    """One decoded crop: uint8 [192, 192, 3], its ``CropTransform`` and stage durations."""

    crop: np.ndarray
    transform: CropTransform
    decode_s: float
    preprocess_s: float


class CropPipeline:
    """Stateless apart from the model's caller; shared by all requests.

    ``mesh_caller`` is the landmark model's shared ``ModelCaller`` (built in the lifespan,
    closed there, shared with the frame pipeline). ``pipeline`` is the
    landmark pipeline's name (``attention`` or ``cascade``): ``Settings.pipeline``, the
    ``?model=`` query value and the ``model`` metric label of its caller name the same thing.
    ``budget``: the process's one ``DecodeBudget``, shared with the other pipelines."""

    def __init__(
        self,
        backend: InferenceBackend,
        settings: Settings,
        mesh_caller: ModelCaller[ModelOutputs],
        pipeline: str = "attention",
        *,
        budget: DecodeBudget,
        blendshapes: Blendshapes | None = None,
        input_size: int = MODEL_INPUT_SIZE,
    ) -> None:
        self.backend = backend
        self.input_size = input_size  # the model's input side (``PIPELINE_INPUT_SIZES``)
        self._shrink_to = 2 * input_size
        self.blendshapes = blendshapes
        self.pipeline = pipeline  # "attention" or "cascade": the pipeline ``backend`` runs
        self.budget = budget
        self._settings = settings
        self.mesh_caller = mesh_caller
        load_codecs()

    def probe(self, payload: bytes, index: int, count: int) -> Header:
        """Header checks of one payload (blocking, tens of microseconds)."""
        with _named(index, count):
            return self.budget.probe(payload)

    def prepare(self, payload: bytes, header: Header, index: int, count: int) -> PreparedCrop:
        """Decode and preprocess one payload (blocking; the decoders release the GIL, so a
        batch's images are prepared in parallel). Errors in a batch name the failing image."""
        start = time.perf_counter()
        with _named(index, count):
            decoded = self.budget.decode(payload, header, header.shrink_eighths(self._shrink_to))
        decoded_at = time.perf_counter()
        crop, transform = preprocess(decoded.pixels, self.input_size)
        transform = transform.onto(decoded.width, decoded.height)
        decoded_bytes = decoded.pixels.nbytes
        del decoded
        self.budget.release_large(decoded_bytes)
        return PreparedCrop(crop, transform, decoded_at - start, time.perf_counter() - decoded_at)

    async def _prepare_held(
        self, payload: bytes, header: Header, index: int, count: int
    ) -> PreparedCrop:
        async with self.budget.hold(header.cost(header.shrink_eighths(self._shrink_to))):
            if decodes_inline(header, len(payload), count):
                return self.prepare(payload, header, index, count)
            return await run_in_threadpool(self.prepare, payload, header, index, count)

    async def run(self, payloads: Sequence[bytes], blendshapes: bool = False) -> list[CropFace]:
        """All stages for one request; one model call for the whole batch; each face comes
        back with its head-relative gaze (``measures.crop_faces``) and, with
        ``blendshapes``, its scores (one blendshape-model call for the request's faces).

        ``decode`` and ``preprocess`` observations are summed over the request's images (they
        run in parallel, so they can exceed the request's wall time); the others are wall time.
        """
        start = time.perf_counter()
        scorer = require_blendshapes(self.blendshapes) if blendshapes else None
        count = len(payloads)
        try:
            # Header parsing only (bounded work per image): on the loop, no thread hop.
            headers = [self.probe(p, i, count) for i, p in enumerate(payloads)]
            self.budget.check_request([h.cost(h.shrink_eighths(self._shrink_to)) for h in headers])
            prepared = await asyncio.gather(
                *(
                    self._prepare_held(p, header, i, count)
                    for i, (p, header) in enumerate(zip(payloads, headers, strict=True))
                )
            )
        except InvalidImage:
            metrics.STAGE_SECONDS.labels(stage="decode").observe(time.perf_counter() - start)
            raise
        metrics.STAGE_SECONDS.labels(stage="decode").observe(sum(p.decode_s for p in prepared))
        metrics.STAGE_SECONDS.labels(stage="preprocess").observe(
            sum(p.preprocess_s for p in prepared)
        )
        metrics.IMAGES_PER_REQUEST.observe(count)
        batch = np.stack([p.crop for p in prepared])
        with metrics.timed("inference"):
            outputs = await self.mesh_caller.infer(batch)
        with metrics.timed("postprocess"):
            results = postprocess(
                outputs, [p.transform for p in prepared], self._settings.score_threshold
            )
            faces = crop_faces(results)
        if scorer is not None:
            faces = await with_crop_blendshapes(faces, scorer)
        for result in results:
            outcome = "face" if result.landmarks is not None else "below_threshold"
            metrics.CROPS.labels(outcome=outcome).inc()
        metrics.STAGE_SECONDS.labels(stage="total").observe(time.perf_counter() - start)
        return faces

    async def is_ready(self) -> bool:
        """Asks the backend off the event loop (a remote backend may do I/O)."""
        return await run_in_threadpool(self.backend.is_ready)
