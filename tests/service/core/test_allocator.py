"""service.core.memory: glibc allocator tuning (the soak in tools/soak.py measures its effect)."""

from __future__ import annotations

import ctypes.util

import pytest

from service.core.memory import limit_malloc_arenas, release_memory

GLIBC = ctypes.util.find_library("c") is not None


@pytest.mark.skipif(not GLIBC, reason="glibc only")
def test_arenas_can_be_capped_and_zero_leaves_the_default() -> None:
    assert limit_malloc_arenas(0) is False
    assert limit_malloc_arenas(8) is True  # this test process: a generous cap


def test_release_memory_is_safe_to_call() -> None:
    release_memory()
    release_memory()
