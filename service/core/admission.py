"""Bounded in-flight work: admission control for the ``/v1`` endpoints.

At most ``max_in_flight`` requests are processed at once in one process; up to ``max_queue``
more wait (FIFO) for a slot, each at most ``queue_timeout_s``. A request that finds the queue
full, or waits too long, gets ``Overloaded`` (503 with ``Retry-After``, mapped in
``service.core.errors``) at once instead of adding latency and memory without bound.
The routes ask for a slot once the request body is in (``AdmissionController.slot``):
a client that stalls mid-upload holds a connection, never a slot, and its read times out
(408). A queued request holds its body (at most ``FACEMESH_MAX_BODY_BYTES``).

``MemoryBudget`` bounds the memory decoded images take at once in the process (see
``service.processing.decode.bytes_per_pixel``).

Limits are per process: with ``FACEMESH_WORKERS=N`` the gateway admits up to N times as many.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from service.core.errors import Overloaded, PayloadTooLarge


class AdmissionController:
    """Counts running and waiting requests; ``acquire()`` admits one or raises ``Overloaded``."""

    def __init__(self, max_in_flight: int, max_queue: int, queue_timeout_s: float) -> None:
        if max_in_flight < 1 or max_queue < 0 or queue_timeout_s <= 0:
            raise ValueError("need max_in_flight >= 1, max_queue >= 0, queue_timeout_s > 0")
        self.max_in_flight = max_in_flight
        self.max_queue = max_queue
        self.queue_timeout_s = queue_timeout_s
        self._slots = asyncio.Semaphore(max_in_flight)
        self._running = 0
        self._waiting = 0

    @property
    def running(self) -> int:
        return self._running

    @property
    def waiting(self) -> int:
        return self._waiting

    async def acquire(self) -> None:
        """Take a slot, waiting in the bounded queue if none is free."""
        if not self._slots.locked():
            # A free slot: taken without yielding to the loop, so the check and the take
            # cannot interleave with another request's.
            await self._slots.acquire()
            self._running += 1
            return
        if self._waiting >= self.max_queue:
            raise Overloaded(
                f"server busy: {self._running} requests running and {self._waiting} queued "
                f"(limits {self.max_in_flight} + {self.max_queue}); retry later"
            )
        self._waiting += 1
        try:
            await asyncio.wait_for(self._slots.acquire(), timeout=self.queue_timeout_s)
        except TimeoutError:
            raise Overloaded(
                f"server busy: no slot within {self.queue_timeout_s:g} s; retry later"
            ) from None
        finally:
            self._waiting -= 1
        self._running += 1

    def release(self) -> None:
        self._running -= 1
        self._slots.release()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        await self.acquire()
        try:
            yield
        finally:
            self.release()


class MemoryBudget:
    """A process-wide budget of bytes (decoded images): ``hold(n)`` waits, first come first
    served, until ``n`` bytes fit, at most ``timeout_s`` (then ``Overloaded``: 503 with
    Retry-After). A request for more than the whole budget can never fit: ``PayloadTooLarge``
    ``decode_budget_exceeded`` (413) at once. Event-loop only (not thread-safe)."""

    def __init__(self, capacity: int, timeout_s: float) -> None:
        if capacity < 1 or timeout_s <= 0:
            raise ValueError("need capacity >= 1 and timeout_s > 0")
        self.capacity = capacity
        self.timeout_s = timeout_s
        self.used = 0
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()

    async def acquire(self, nbytes: int) -> None:
        if nbytes > self.capacity:
            raise PayloadTooLarge(
                "decode_budget_exceeded",
                f"decoding needs about {nbytes} bytes, more than the server's whole decode "
                f"budget of {self.capacity}",
            )
        if not self._waiters and self.used + nbytes <= self.capacity:
            self.used += nbytes
            return
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((nbytes, granted))
        try:
            async with asyncio.timeout(self.timeout_s):
                await granted
        except BaseException as exc:
            if granted.done() and not granted.cancelled():
                self.release(nbytes)  # granted just as the wait ended: hand it back
            self._grant()  # a cancelled head of the queue must not block the others
            if isinstance(exc, TimeoutError):
                raise Overloaded(
                    f"server busy: no decode memory within {self.timeout_s:g} s; retry later"
                ) from None
            raise

    def release(self, nbytes: int) -> None:
        self.used -= nbytes
        self._grant()

    def _grant(self) -> None:
        while self._waiters:
            nbytes, granted = self._waiters[0]
            if granted.done():
                self._waiters.popleft()
                continue
            if self.used + nbytes > self.capacity:
                return
            self._waiters.popleft()
            self.used += nbytes
            granted.set_result(None)

    @asynccontextmanager
    async def hold(self, nbytes: int) -> AsyncIterator[None]:
        await self.acquire(nbytes)
        try:
            yield
        finally:
            self.release(nbytes)
