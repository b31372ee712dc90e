"""AdmissionController: bounded running + queued requests, immediate Overloaded past them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from service.core.admission import AdmissionController
from service.core.errors import BackendUnavailable, Overloaded


@asynccontextmanager
async def slot(admission: AdmissionController) -> AsyncIterator[None]:
    """Hold one slot the way ``service.api.guards.admission_slot`` does for a request."""
    await admission.acquire()
    try:
        yield
    finally:
        admission.release()


def test_admits_up_to_the_limit_queues_then_rejects() -> None:
    async def scenario() -> None:
        admission = AdmissionController(max_in_flight=2, max_queue=1, queue_timeout_s=60)
        await admission.acquire()
        await admission.acquire()
        assert (admission.running, admission.waiting) == (2, 0)
        queued = asyncio.create_task(admission.acquire())
        await asyncio.sleep(0)
        assert (admission.running, admission.waiting) == (2, 1)
        with pytest.raises(Overloaded) as rejected:
            await admission.acquire()  # queue full: no waiting at all
        assert rejected.value.code == "overloaded"
        assert isinstance(rejected.value, BackendUnavailable)  # -> 503 + Retry-After
        admission.release()
        await queued
        assert (admission.running, admission.waiting) == (2, 0)
        admission.release()
        admission.release()
        assert (admission.running, admission.waiting) == (0, 0)

    asyncio.run(scenario())


def test_queue_wait_is_bounded() -> None:
    async def scenario() -> None:
        admission = AdmissionController(max_in_flight=1, max_queue=5, queue_timeout_s=0.05)
        async with slot(admission):
            with pytest.raises(Overloaded, match="no slot within"):
                await admission.acquire()
        assert (admission.running, admission.waiting) == (0, 0)
        async with slot(admission):  # the slot is free again
            assert admission.running == 1

    asyncio.run(scenario())


def test_zero_queue_rejects_whenever_all_slots_are_busy() -> None:
    async def scenario() -> None:
        admission = AdmissionController(max_in_flight=1, max_queue=0, queue_timeout_s=1)
        async with slot(admission):
            with pytest.raises(Overloaded):
                await admission.acquire()
        async with slot(admission):
            pass

    asyncio.run(scenario())


def test_slot_is_released_when_the_request_fails() -> None:
    async def scenario() -> None:
        admission = AdmissionController(max_in_flight=1, max_queue=0, queue_timeout_s=1)
        with pytest.raises(RuntimeError):
            async with slot(admission):
                raise RuntimeError("handler failed")
        assert admission.running == 0
        async with slot(admission):
            pass

    asyncio.run(scenario())


def test_many_concurrent_requests_never_exceed_the_limits() -> None:
    async def scenario() -> tuple[int, int, int]:
        admission = AdmissionController(max_in_flight=3, max_queue=4, queue_timeout_s=60)
        peak = 0
        gate = asyncio.Event()

        async def request() -> bool:
            nonlocal peak
            try:
                async with slot(admission):
                    peak = max(peak, admission.running)
                    await gate.wait()
                return True
            except Overloaded:
                return False

        tasks = [asyncio.create_task(request()) for _ in range(20)]
        for _ in range(100):  # let every task reach the controller
            await asyncio.sleep(0)
        assert (admission.running, admission.waiting) == (3, 4)
        gate.set()
        results = await asyncio.gather(*tasks)
        return peak, sum(results), len(results) - sum(results)

    peak, admitted, rejected = asyncio.run(scenario())
    assert peak <= 3
    assert admitted == 3 + 4 and rejected == 20 - 7


def test_rejects_nonsense_limits() -> None:
    with pytest.raises(ValueError):
        AdmissionController(max_in_flight=0, max_queue=1, queue_timeout_s=1)
