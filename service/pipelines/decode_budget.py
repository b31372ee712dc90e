"""The decoded-memory budget, in one piece: header probe, per-request limit, hold, release.

Every pipeline that decodes posted images takes the process's one ``DecodeBudget`` (built in
the lifespan): ``probe`` reads each payload's header (``service.processing.decode.probe``:
format, coding process, size and orientation checks in bounded work, nothing decoded);
``images(costs)`` refuses a request whose images would take more than
``FACEMESH_REQUEST_DECODE_BYTES`` decoded (413 ``decode_budget_exceeded``, before any pixel is
decoded) and otherwise holds each image's cost from the process-wide ``MemoryBudget``
(``FACEMESH_DECODE_MEMORY_BYTES``; a request waits, FIFO, at most ``queue_timeout_s``) until
the block ends. Costs are computed for the decode the pipeline will do
(``Header.cost(eighths)``: a reduced JPEG decode holds its reduced size), so the partial paths
are bounded like full decodes.

``release_large(nbytes)``: after dropping a decoded image of at least ``RELEASE_AFTER_BYTES``
the allocator's freed heap goes back to the OS (``malloc_trim``, about 1 ms); smaller images
are left to the allocator (their pages are reused by the next frame).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager

from service.core.admission import MemoryBudget
from service.core.config import Settings
from service.core.errors import PayloadTooLarge
from service.core.memory import release_memory
from service.processing.decode import Header, probe

# Hand freed heap back to the OS after dropping a decoded image at least this large (a 12 MP
# photo; a 1080p frame, 6 MB, is reused by the next one instead).
RELEASE_AFTER_BYTES = 32 * 1024 * 1024


class DecodeBudget:
    """One per process, shared by the crop and frame pipelines."""

    def __init__(
        self, memory: MemoryBudget, *, request_bytes: int, min_side: int, max_pixels: int
    ) -> None:
        self.memory = memory
        self.request_bytes = request_bytes
        self.min_side = min_side
        self.max_pixels = max_pixels

    @classmethod
    def from_settings(cls, settings: Settings) -> DecodeBudget:
        """The process's budget (the lifespan builds exactly one)."""
        return cls(
            MemoryBudget(settings.decode_memory_bytes, settings.queue_timeout_s),
            request_bytes=settings.request_decode_bytes,
            min_side=settings.min_image_side,
            max_pixels=settings.max_image_pixels,
        )

    def probe(self, payload: bytes) -> Header:
        """Header checks of one payload with the gateway's limits (blocking, bounded work)."""
        return probe(payload, min_side=self.min_side, max_pixels=self.max_pixels)

    def check_request(self, costs: Sequence[int]) -> None:
        """413 ``decode_budget_exceeded`` when a request's images would take more than the
        per-request limit decoded."""
        total = sum(costs)
        if total > self.request_bytes:
            raise PayloadTooLarge(
                "decode_budget_exceeded",
                f"the {len(costs)} image(s) would take about {total} bytes decoded, the "
                f"per-request limit is {self.request_bytes} (send fewer or smaller images)",
            )

    @asynccontextmanager
    async def images(self, costs: Sequence[int]) -> AsyncIterator[None]:
        """Check the request's ``costs`` and hold them all from the process budget."""
        self.check_request(costs)
        async with AsyncExitStack() as stack:
            for cost in costs:
                await stack.enter_async_context(self.memory.hold(cost))
            yield

    def hold(self, cost: int) -> AbstractAsyncContextManager[None]:
        """Hold one image's ``cost`` (already checked with ``check_request``)."""
        return self.memory.hold(cost)

    @staticmethod
    def release_large(nbytes: int) -> None:
        """``malloc_trim`` after dropping a decoded image of ``nbytes``, if it was large."""
        if nbytes >= RELEASE_AFTER_BYTES:
            release_memory()
