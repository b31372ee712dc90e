"""Micro-batching: concurrent requests' images coalesced into one model call, like Triton's
dynamic batcher, behind one object per model (``ModelCaller``).

A ``ModelCaller`` owns ``concurrency`` worker threads, which are the model's executor: at most
that many calls of this model run at once, whatever the endpoint. Each worker takes the oldest
waiting request and then every further one that still fits in ``max_batch`` rows, in arrival
order (a request is never split; one larger than ``max_batch`` runs alone), and runs the
model itself. Requests that arrive while every worker is busy wait and are batched together,
so batches grow exactly when the model is the bottleneck. An idle worker with fewer than
``max_batch`` rows may wait up to ``max_delay_us`` after the oldest request's arrival for more
(0: run at once, which costs a lone request nothing).

Two doors into the same queue, both thread-safe and neither bound to an event loop:
``await infer(images)`` for async code (the crop pipeline, on the loop) and
``infer_blocking(images)`` for code in a worker thread (the frame pipeline's per-frame work).
A request is a ``concurrent.futures.Future``; the async door awaits it through
``asyncio.wrap_future``, so the answer reaches whichever loop asked.

Results go back to each request in its own order (its rows of the batch). Isolation: a
request whose images are off contract is refused before it joins a batch; when a batched
call fails with anything but ``BackendUnavailable`` (the model or server being down, which is
every caller's problem), each request of the batch is re-run on its own, so only the one that
fails gets the error. A request whose caller went away (cancelled) is dropped, or its rows
ignored. Shutdown (``close``) refuses new calls and answers every waiting and running request
with ``BackendUnavailable`` at once, then waits for the running model calls to return.

Metrics: ``facemesh_model_batch_size_images`` (rows per model call) and
``facemesh_model_queue_delay_seconds`` (arrival to model call), labelled by ``model``.

Batching only: what a model is, how it is checked and what its label is, the caller is told;
every ``ModelCaller`` of the app is built in ``service.lifespan``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np

from service import metrics
from service.core.errors import BackendUnavailable

logger = logging.getLogger(__name__)

R = TypeVar("R")


@dataclass(eq=False)  # identity: a batch is found in _running by `is`, never by its arrays
class _Request(Generic[R]):
    images: np.ndarray
    future: Future[R]
    arrived: float


class ModelCaller(Generic[R]):
    """One model's calls, micro-batched, on its own worker threads: ``await infer(images)``
    from async code, ``infer_blocking(images)`` from any other thread.

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
        max_batch: int,
        concurrency: int,
        max_delay_us: int,
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
        self._waiting: deque[_Request[R]] = deque()
        self._running: list[list[_Request[R]]] = []  # the batches in model calls now
        self._arrived = threading.Condition()
        self._workers: list[threading.Thread] = []
        self._closed = False
        self._batch_size = metrics.MODEL_BATCH_SIZE.labels(model=model)
        self._queue_delay = metrics.MODEL_QUEUE_DELAY.labels(model=model)

    # --- callers ------------------------------------------------------------------------

    async def infer(self, images: np.ndarray) -> R:
        """The model's result for ``images`` (this request's rows only)."""
        return await asyncio.wrap_future(self._submit(images))

    def infer_blocking(self, images: np.ndarray) -> R:
        """``infer`` for code running in a worker thread: the call joins the same batches and
        blocks this thread until its rows are back. Never call it on an event loop's thread."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return self._submit(images).result()
        raise RuntimeError("infer_blocking called on the event loop: use await infer()")

    def _submit(self, images: np.ndarray) -> Future[R]:
        if self._check is not None:
            self._check(images)
        future: Future[R] = Future()
        with self._arrived:
            if self._closed:
                raise BackendUnavailable(f"{self.model} model is shut down")
            if not self._workers:
                self._workers = [
                    threading.Thread(
                        target=self._work, name=f"{self.model}-batcher-{index}", daemon=True
                    )
                    for index in range(self.concurrency)
                ]
                for worker in self._workers:
                    worker.start()
            self._waiting.append(_Request(images, future, time.perf_counter()))
            self._arrived.notify()
        return future

    async def aclose(self) -> None:
        """``close`` off the event loop (it waits for running model calls)."""
        await asyncio.get_running_loop().run_in_executor(None, self.close)

    def close(self) -> None:
        """Refuse new calls, answer waiting and running ones (``BackendUnavailable``), wait
        for the running model calls to return, close the model."""
        with self._arrived:
            if self._closed:
                return
            self._closed = True
            shut = BackendUnavailable(f"{self.model} model is shut down")
            while self._waiting:
                _fail(self._waiting.popleft().future, shut)
            for batch in self._running:
                for request in batch:
                    _fail(request.future, shut)
            self._arrived.notify_all()
            workers, self._workers = self._workers, []
        for worker in workers:
            if worker is not threading.current_thread():
                worker.join()
        if self._close is not None:
            self._close()

    # --- workers ------------------------------------------------------------------------

    def _take(self, batch: list[_Request[R]], rows: int) -> int:
        """Move waiting requests that fit into ``batch`` (FIFO; the first always fits); a
        request whose caller went away is dropped. Holds ``_arrived``."""
        while self._waiting:
            request = self._waiting[0]
            count = len(request.images)
            if batch and rows + count > self.max_batch:
                break
            self._waiting.popleft()
            if request.future.done():  # the caller went away
                continue
            batch.append(request)
            rows += count
        return rows

    def _fit(self, batch: list[_Request[R]], rows: int) -> int:
        """Trim ``batch`` to the largest padding-free batch size it covers, putting the trimmed
        requests back at the head of the queue in order: a model with static batch sizes
        (OpenVINO's) would otherwise pad, e.g. 5 rows to 8, and compute the padding;
        the trimmed requests lead the next call instead. Holds ``_arrived``."""
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

    def _next_batch(self) -> list[_Request[R]] | None:
        """The next batch to run (None: shut down), waiting for requests and, with
        ``max_delay_s``, for company."""
        with self._arrived:
            batch: list[_Request[R]] = []
            rows = 0
            while not batch:
                while not self._waiting and not self._closed:
                    self._arrived.wait()
                if self._closed:
                    return None
                rows = self._take(batch, 0)
            if self.max_delay_s > 0:
                deadline = batch[0].arrived + self.max_delay_s
                while rows < self.max_batch and not self._closed:
                    remaining = deadline - time.perf_counter()
                    if remaining <= 0:
                        break
                    if not self._waiting:
                        self._arrived.wait(remaining)
                    before = rows
                    rows = self._take(batch, rows)
                    if rows == before and self._waiting:  # the next one does not fit
                        break
            self._fit(batch, rows)
            if self._closed:  # closed while this worker waited for company
                for request in batch:
                    _fail(request.future, BackendUnavailable(f"{self.model} model is shut down"))
                return None
            # From here a caller that goes away only has its rows ignored.
            batch = [each for each in batch if each.future.set_running_or_notify_cancel()]
            # Other workers may be idle while requests still wait behind this batch.
            if self._waiting:
                self._arrived.notify()
            if batch:
                self._running.append(batch)
            return batch

    def _work(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            if not batch:  # every caller of it went away
                continue
            try:
                self._run(batch)
            except Exception as exc:  # a bug here must not leave callers waiting forever
                logger.exception("%s batcher failed", self.model)
                for request in batch:
                    _fail(request.future, exc)
            finally:
                with self._arrived:
                    self._running.remove(batch)

    def _run(self, batch: list[_Request[R]]) -> None:
        images = (
            batch[0].images
            if len(batch) == 1
            else np.concatenate([request.images for request in batch])
        )
        start = time.perf_counter()
        for request in batch:
            self._queue_delay.observe(start - request.arrived)
        self._batch_size.observe(len(images))
        try:
            result = self._call(images)
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
                self._run([request])
            return
        offset = 0
        for request in batch:
            count = len(request.images)
            if not request.future.done():
                _answer(request.future, self._rows(result, offset, offset + count))
            offset += count


def _answer(future: Future[R], result: R) -> None:
    """Set ``future``'s result unless it has one already (shutdown may answer first)."""
    with contextlib.suppress(InvalidStateError):
        future.set_result(result)


def _fail(future: Future[Any], exc: BaseException) -> None:
    with contextlib.suppress(InvalidStateError):
        future.set_exception(exc)


def pair_rows(
    arrays: tuple[np.ndarray, np.ndarray], start: int, stop: int
) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``start:stop`` of both arrays of a pair result (e.g. a detector's regressors and
    classificators)."""
    return arrays[0][start:stop], arrays[1][start:stop]


def array_rows(array: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Rows ``start:stop`` of a one-array result (e.g. the blendshape model's scores)."""
    return array[start:stop]
