"""Micro-batching: concurrent requests' images coalesced into one model call, like Triton's
dynamic batcher, behind one object per model (``ModelCaller``).

A ``ModelCaller`` owns the model's executor (``concurrency`` threads: at most that many calls
of this model run at once, whatever the endpoint) and as many batching workers. Each worker
takes the oldest waiting request and then every further one that still fits in ``max_batch``
rows, in arrival order (a request is never split; one larger than ``max_batch`` runs alone).
Requests that arrive while every worker is busy wait and are batched together, so batches
grow exactly when the model is the bottleneck. An idle worker with fewer than ``max_batch``
rows may wait up to ``max_delay_us`` after the oldest request's arrival for more (0: run at
once, which costs a lone request nothing).

Results go back to each request in its own order (its rows of the batch). Isolation: a
request whose images are off contract is refused before it joins a batch; when a batched
call fails with anything but ``BackendUnavailable`` (the model or server being down, which is
every caller's problem), each request of the batch is re-run on its own, so only the one that
fails gets the error. A request whose caller went away (cancelled) is dropped, or its rows
ignored.

Metrics: ``facemesh_model_batch_size_images`` (rows per model call) and
``facemesh_model_queue_delay_seconds`` (arrival to model call), labelled by ``model``.

Batching only: what a model is, how it is checked and what its label is, the caller is told;
every ``ModelCaller`` of the app is built in ``service.lifespan``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np

from service import metrics
from service.core.errors import BackendUnavailable

logger = logging.getLogger(__name__)

R = TypeVar("R")


@dataclass
class _Request(Generic[R]):
    images: np.ndarray
    future: asyncio.Future[R]
    arrived: float


class ModelCaller(Generic[R]):
    """``await infer(images)``: one model's calls, micro-batched, on one executor.

    ``call`` runs the model (blocking, thread-safe, e.g. ``backend.infer``); ``rows(result,
    start, stop)`` cuts one request's rows out of a batched result; ``check(images)`` raises
    ``ValueError`` for images off the model's contract (run per request, before batching);
    ``batch_sizes``: the batch sizes the model runs without padding (OpenVINO's compiled
    sizes; empty: any), to which a batch is trimmed when it covers one.
    """

    def __init__(
        self,
        call: Callable[[np.ndarray], R],
        rows: Callable[[R, int, int], R],
        *,
        model: str,
        concurrency: int = 1,
        max_batch: int = 16,
        max_delay_us: int = 0,
        check: Callable[[np.ndarray], None] | None = None,
        close: Callable[[], None] | None = None,
        batch_sizes: tuple[int, ...] = (),
    ) -> None:
        if concurrency < 1 or max_batch < 1 or max_delay_us < 0:
            raise ValueError("concurrency and max_batch must be >= 1, max_delay_us >= 0")
        self.model = model
        self.concurrency = concurrency
        self.max_batch = max_batch
        self.max_delay_s = max_delay_us / 1e6
        self.batch_sizes = batch_sizes
        self._call = call
        self._rows = rows
        self._check = check
        self._close = close
        self._executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix=model)
        self._waiting: deque[_Request[R]] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._arrived: asyncio.Event | None = None
        self._workers: list[asyncio.Task[None]] = []
        self._bind_lock = threading.Lock()
        self._closed = False
        self._batch_size = metrics.MODEL_BATCH_SIZE.labels(model=model)
        self._queue_delay = metrics.MODEL_QUEUE_DELAY.labels(model=model)

    # --- callers ------------------------------------------------------------------------

    async def infer(self, images: np.ndarray) -> R:
        """The model's result for ``images`` (this request's rows only)."""
        if self._check is not None:
            self._check(images)
        if self._closed:
            raise BackendUnavailable(f"{self.model} model is shut down")
        self.bind()
        loop = asyncio.get_running_loop()
        request: _Request[R] = _Request(images, loop.create_future(), time.perf_counter())
        self._waiting.append(request)
        assert self._arrived is not None
        self._arrived.set()
        return await request.future

    def infer_blocking(self, images: np.ndarray) -> R:
        """``infer`` for code running in a worker thread (the frame pipeline's per-frame
        work): the call joins the batches of the loop ``bind`` recorded. Without a bound loop
        (e.g. a script calling the pipeline directly), the model is called at once."""
        loop = self._loop
        if loop is None or loop.is_closed() or not loop.is_running():
            if self._check is not None:
                self._check(images)
            return self._call(images)
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            raise RuntimeError("infer_blocking called on the event loop: use await infer()")
        return asyncio.run_coroutine_threadsafe(self.infer(images), loop).result()

    def bind(self) -> None:
        """Attach to the running event loop (start the workers); called by ``infer``, and by
        async code before it hands work to threads that use ``infer_blocking``."""
        loop = asyncio.get_running_loop()
        if self._loop is loop:
            return
        with self._bind_lock:
            if self._loop is loop:
                return
            # A new loop (tests run several): requests queued on the old one are abandoned.
            self._waiting.clear()
            self._arrived = asyncio.Event()
            self._workers = [
                loop.create_task(self._work(), name=f"{self.model}-batcher-{index}")
                for index in range(self.concurrency)
            ]
            self._loop = loop

    async def aclose(self) -> None:
        """Stop the workers (in the loop), then ``close``."""
        workers, self._workers = self._workers, []
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        await asyncio.get_running_loop().run_in_executor(None, self.close)

    def close(self) -> None:
        """Refuse new calls, fail waiting ones, wait for running ones, close the model."""
        if self._closed:
            return
        self._closed = True
        for worker in self._workers:
            _soon(worker.get_loop(), worker.cancel)
        while self._waiting:
            future = self._waiting.popleft().future
            shut = BackendUnavailable(f"{self.model} model is shut down")
            _soon(future.get_loop(), functools.partial(_fail, future, shut))
        self._executor.shutdown(wait=True)
        if self._close is not None:
            self._close()

    # --- workers ------------------------------------------------------------------------

    def _take(self, batch: list[_Request[R]], rows: int) -> int:
        """Move waiting requests that fit into ``batch`` (FIFO; the first always fits)."""
        while self._waiting:
            request = self._waiting[0]
            if request.future.done():  # the caller went away
                self._waiting.popleft()
                continue
            count = len(request.images)
            if batch and rows + count > self.max_batch:
                break
            self._waiting.popleft()
            batch.append(request)
            rows += count
        return rows

    def _fit(self, batch: list[_Request[R]], rows: int) -> int:
        """Trim ``batch`` to the largest padding-free batch size it covers, putting the trimmed
        requests back at the head of the queue in order: a model with static batch sizes
        (OpenVINO's) would otherwise pad, e.g. 5 rows to 8, and compute the padding;
        the trimmed requests lead the next call instead."""
        if not self.batch_sizes or rows in self.batch_sizes or len(batch) == 1:
            return rows
        target = max((size for size in self.batch_sizes if size <= rows), default=0)
        if target == 0:
            return rows
        while len(batch) > 1 and rows > target:
            request = batch.pop()
            self._waiting.appendleft(request)
            rows -= len(request.images)
        return rows

    async def _work(self) -> None:
        assert self._arrived is not None
        arrived = self._arrived
        while True:
            while not self._waiting:
                arrived.clear()
                await arrived.wait()
            batch: list[_Request[R]] = []
            rows = self._take(batch, 0)
            if not batch:
                continue
            if self.max_delay_s > 0:
                deadline = batch[0].arrived + self.max_delay_s
                while rows < self.max_batch:
                    remaining = deadline - time.perf_counter()
                    if remaining <= 0:
                        break
                    arrived.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(arrived.wait(), remaining)
                    before = rows
                    rows = self._take(batch, rows)
                    if rows == before and self._waiting:  # the next one does not fit
                        break
            rows = self._fit(batch, rows)
            # Other workers may be idle while requests still wait behind this batch.
            if self._waiting:
                arrived.set()
            try:
                await self._run(batch)
            except asyncio.CancelledError:  # shutting down: nobody is left waiting in vain
                for request in batch:
                    _fail(request.future, BackendUnavailable(f"{self.model} model is shut down"))
                raise
            except Exception as exc:  # a bug here must not leave callers waiting forever
                logger.exception("%s batcher failed", self.model)
                for request in batch:
                    _fail(request.future, exc)

    async def _run(self, batch: list[_Request[R]]) -> None:
        images = (
            batch[0].images
            if len(batch) == 1
            else np.concatenate([request.images for request in batch])
        )
        start = time.perf_counter()
        for request in batch:
            self._queue_delay.observe(start - request.arrived)
        self._batch_size.observe(len(images))
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(self._executor, self._call, images)
        except BackendUnavailable as exc:
            for request in batch:
                _fail(request.future, exc)
            return
        except Exception as exc:
            if len(batch) == 1:
                _fail(batch[0].future, exc)
                return
            logger.warning(
                "%s model call failed on a batch of %d requests (%s); running them one by one",
                self.model,
                len(batch),
                exc,
            )
            for request in batch:
                await self._run([request])
            return
        offset = 0
        for request in batch:
            count = len(request.images)
            if not request.future.done():
                request.future.set_result(self._rows(result, offset, offset + count))
            offset += count


def _fail(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)


def _soon(loop: asyncio.AbstractEventLoop, callback: Callable[[], Any]) -> None:
    """Run ``callback`` in ``loop`` (from any thread); nothing when the loop is closed."""
    if not loop.is_closed():
        loop.call_soon_threadsafe(callback)


def pair_rows(
    arrays: tuple[np.ndarray, np.ndarray], start: int, stop: int
) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``start:stop`` of both arrays of a pair result (e.g. a detector's regressors and
    classificators)."""
    return arrays[0][start:stop], arrays[1][start:stop]
