"""Bounded in-flight work: admission control for the ``/v1`` endpoints.

At most ``max_in_flight`` requests are processed at once in one process; up to ``max_queue``
more wait (FIFO) for a slot, each at most ``queue_timeout_s``. A request that finds the queue
full, or waits too long, gets ``Overloaded`` (503 with ``Retry-After``, mapped in
``service.core.errors``) at once instead of adding latency and memory without bound.
The routes ask for a slot once the request body is in (``AdmissionController.slot``):
a client that stalls mid-upload holds a connection, never a slot, and its read times out
(408). A queued request holds its body (at most ``FACEMESH_MAX_BODY_BYTES``).

Limits are per process: with ``FACEMESH_WORKERS=N`` the gateway admits up to N times as many.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from service.core.errors import Overloaded


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
