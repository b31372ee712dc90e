"""service.core.memory: the decoded-image byte pool (``MemoryBudget``), the process's memory
budget, and glibc allocator tuning, checked by its effect in a fresh process (the soak in
tools/soak.py measures what it does to RSS under load)."""

from __future__ import annotations

import asyncio
import ctypes.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from service.core.config import Settings
from service.core.errors import Overloaded, PayloadTooLarge
from service.core.memory import MIB, MemoryBudget, limit_malloc_arenas, memory_budget_mib

REPO = Path(__file__).resolve().parents[3]
GLIBC = ctypes.util.find_library("c") is not None
THREADS = 8

# In a fresh interpreter: cap the arenas, let THREADS threads each malloc a block at once,
# then count the heaps glibc's malloc_info reports.
_ARENAS = f"""
import ctypes, ctypes.util, json, os, sys, tempfile, threading
from service.core.memory import limit_malloc_arenas
took = limit_malloc_arenas(int(sys.argv[1]))
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.fopen.restype = ctypes.c_void_p
barrier = threading.Barrier({THREADS} + 1)
blocks = []
def allocate():
    blocks.append(bytearray(100_000))  # above pymalloc's limit: glibc malloc, this thread
    barrier.wait()
threads = [threading.Thread(target=allocate) for _ in range({THREADS})]
for thread in threads:
    thread.start()
barrier.wait()
path = tempfile.mktemp()
stream = ctypes.c_void_p(libc.fopen(path.encode(), b"w"))
libc.malloc_info(0, stream)
libc.fclose(stream)
heaps = open(path).read().count("<heap nr=")
os.unlink(path)
for thread in threads:
    thread.join()
print(json.dumps({{"took": took, "heaps": heaps}}))
"""

# In a fresh interpreter: 3000 blocks of 64 KiB (malloc'd from the heap, below the mmap
# threshold), every other one freed: holes free() keeps; RSS before and after release_memory.
_TRIM = """
import json, os
from service.core.memory import release_memory
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
blocks = [bytearray(64 * 1024) for _ in range(3000)]
del blocks[::2]
before = rss()
release_memory()
print(json.dumps({"before": before, "after": rss()}))
"""
FREED_BYTES = 1500 * 64 * 1024


def _run(script: str, *args: str) -> dict[str, int]:
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    result: dict[str, int] = json.loads(done.stdout)
    return result


@pytest.mark.skipif(not GLIBC, reason="glibc only")
def test_capped_arenas_hold_every_threads_heap() -> None:
    default = _run(_ARENAS, "0")
    assert default["took"] is False  # 0 leaves glibc's default
    assert default["heaps"] > 2  # one more arena per thread, up to 8 per core
    capped = _run(_ARENAS, "2")
    assert capped["took"] is True
    assert capped["heaps"] <= 2


@pytest.mark.skipif(not GLIBC, reason="glibc only")
def test_release_memory_hands_freed_heap_back() -> None:
    rss = _run(_TRIM)
    assert rss["before"] - rss["after"] >= FREED_BYTES // 2


def test_zero_or_negative_caps_change_nothing() -> None:
    assert limit_malloc_arenas(0) is False
    assert limit_malloc_arenas(-1) is False


def test_memory_budget_waits_in_order_and_never_exceeds_its_capacity() -> None:
    async def scenario() -> None:
        budget = MemoryBudget(capacity=100, timeout_s=60)
        held: list[int] = []
        peak = 0

        async def use(nbytes: int) -> None:
            nonlocal peak
            async with budget.hold(nbytes):
                held.append(nbytes)
                peak = max(peak, budget.used)
                await asyncio.sleep(0.01)

        await asyncio.gather(*(use(n) for n in (60, 60, 30, 100, 10)))
        assert peak <= 100 and budget.used == 0
        assert held == [60, 60, 30, 100, 10]  # first come, first served

    asyncio.run(scenario())


def test_memory_budget_refuses_what_can_never_fit_and_times_out_waiting() -> None:
    async def scenario() -> None:
        budget = MemoryBudget(capacity=100, timeout_s=0.05)
        with pytest.raises(PayloadTooLarge) as too_big:
            await budget.acquire(101)
        assert too_big.value.code == "decode_budget_exceeded"
        await budget.acquire(80)
        with pytest.raises(Overloaded):
            await budget.acquire(30)  # waits 0.05 s for 30 bytes that never come free
        assert budget.used == 80
        budget.release(80)
        await budget.acquire(100)  # the timed-out waiter left nothing behind
        assert budget.used == 100

    asyncio.run(scenario())


def test_memory_budget_cancelled_waiter_does_not_block_the_queue() -> None:
    async def scenario() -> None:
        budget = MemoryBudget(capacity=100, timeout_s=60)
        await budget.acquire(90)
        big = asyncio.create_task(budget.acquire(50))
        small = asyncio.create_task(budget.acquire(5))  # FIFO: behind the big one
        await asyncio.sleep(0)
        assert not small.done()
        big.cancel()
        await asyncio.sleep(0)
        await asyncio.wait_for(small, 1)
        assert budget.used == 95

    asyncio.run(scenario())


def test_the_process_budget_adds_ready_decode_bodies_and_working_memory() -> None:
    settings = Settings(
        decode_memory_bytes=100 * MIB, max_in_flight=2, max_queue=2, max_body_bytes=10 * MIB
    )
    working = memory_budget_mib(settings, ready_mib=0) - (100 + 4 * 10)
    assert working > 0
    assert memory_budget_mib(settings, ready_mib=300) == 300 + 100 + 4 * 10 + working
    triton = memory_budget_mib(Settings(backend="triton"))
    assert triton < memory_budget_mib(Settings())  # fewer models in process
