"""The gateway's memory, in one place: what a process may hold, and the parts of the
budget each piece of the code applies.

The budget per process (``docs/operations.md``, "Memory budget"; ``deploy/k8s`` sizes pods
with ``memory_budget_mib``, and the hostile-corpus test holds a real gateway to it)::

    peak RSS <= RSS at ready (models loaded, their batch sizes compiled: READY_RSS_MIB)
              + FACEMESH_DECODE_MEMORY_BYTES (every decoded image at once: ``MemoryBudget``)
              + (FACEMESH_MAX_IN_FLIGHT + FACEMESH_MAX_QUEUE) x FACEMESH_MAX_BODY_BYTES
                (the request bodies admitted or queued requests hold)
              + WORKING_MEMORY_MIB (model calls and their batch buffers, crops, answers)

Its parts: ``MemoryBudget``, the pool of decoded-image bytes that
``service.pipelines.decode_budget.DecodeBudget`` holds each image's cost from (the cost of
one decode is the decoder's own fact: ``service.processing.decode.Header.cost``); the
compiled-batch caps (``DETECTOR_MAX_BATCH_SIZE``, ``EXTRA_PIPELINE_MAX_BATCH_SIZE``: each
compiled OpenVINO batch size costs memory, so models that never see large batches compile
only the small ones); ``release_after`` (freed heap back to the OS after a large image);
and glibc's allocator tuning:

* ``limit_malloc_arenas``: glibc gives threads their own heap arenas (up to 8 per core); with
  the threadpool decoding images and running models, freed memory stays scattered over many
  arenas and RSS creeps up for minutes under steady load; capped, it levels off at the same
  throughput (the soak's figures: ``docs/operations.md``). ``python -m service`` caps them
  (``FACEMESH_MALLOC_ARENA_MAX``).
* ``release_memory``: ``malloc_trim(0)``, handing freed heap back to the OS.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Final

from service.core.errors import Overloaded, PayloadTooLarge

if TYPE_CHECKING:
    from service.core.config import Settings

MIB: Final = 1024 * 1024
WORKING_MEMORY_MIB: Final = 256
# RSS at ready, measured (docs/operations.md): the embedded runtime with every model loaded
# and every batch size compiled; a Triton-backed gateway (only the detectors in process).
READY_RSS_MIB: Final = {"embedded": 512, "triton": 200}
# A frame is one detector row (three with the rotation search); micro-batched frames rarely
# fill more than 4: the detectors compile only the batch sizes up to 4. So does a landmark
# pipeline that is not the default (selectable per request, so rarely batched large).
DETECTOR_MAX_BATCH_SIZE: Final = 4
EXTRA_PIPELINE_MAX_BATCH_SIZE: Final = 4
# Hand freed heap back to the OS after dropping a decoded image at least this large (a 12 MP
# photo; a 1080p frame, 6 MB, is reused by the next one instead).
RELEASE_AFTER_BYTES: Final = 32 * 1024 * 1024

_M_ARENA_MAX: Final = -8  # mallopt parameter number (glibc malloc.h)


def _load_libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


_LIBC: Final = _load_libc()


def limit_malloc_arenas(count: int) -> bool:
    """Cap glibc's malloc arenas at ``count`` (0: leave glibc's default); whether it took."""
    if count <= 0 or _LIBC is None or not hasattr(_LIBC, "mallopt"):
        return False
    return bool(_LIBC.mallopt(_M_ARENA_MAX, count))


def release_memory() -> None:
    """Give freed heap memory back to the OS (glibc ``malloc_trim``; no-op elsewhere)."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def release_after(nbytes: int) -> None:
    """``release_memory`` after dropping a decoded image of ``nbytes``, if it was large
    (smaller images are left to the allocator, their pages reused by the next one)."""
    if nbytes >= RELEASE_AFTER_BYTES:
        release_memory()


def memory_budget_mib(settings: Settings, ready_mib: float | None = None) -> float:
    """The peak-RSS budget of one process with ``settings`` (module docstring); ``ready_mib``:
    the process's own RSS at ready (else the measured figure for its backend)."""
    if ready_mib is None:
        ready_mib = READY_RSS_MIB["triton" if settings.backend == "triton" else "embedded"]
    bodies = (settings.max_in_flight + settings.max_queue) * settings.max_body_bytes
    return ready_mib + (settings.decode_memory_bytes + bodies) / MIB + WORKING_MEMORY_MIB


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
