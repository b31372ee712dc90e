"""service.core.memory: glibc allocator tuning, checked by its effect in a fresh process (the
soak in tools/soak.py measures what it does to RSS under load)."""

from __future__ import annotations

import ctypes.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from service.core.memory import limit_malloc_arenas

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
