"""glibc allocator tuning for the gateway process (no-ops where glibc is absent).

* ``limit_malloc_arenas``: glibc gives threads their own heap arenas (up to 8 per core); with
  the threadpool decoding images and running models, freed memory stays scattered over many
  arenas and RSS creeps up for minutes under steady load (measured with ``tools/soak.py``:
  still rising after 5 min with the default, flat after 3 min with 2 arenas, and ~60 MB lower,
  at the same throughput). ``python -m service`` caps them (``FACEMESH_MALLOC_ARENA_MAX``).
* ``release_memory``: ``malloc_trim(0)``, handing freed heap back to the OS after a large
  image is dropped.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from typing import Final

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
