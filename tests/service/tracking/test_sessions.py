"""Session store: bounded, expiring, isolated."""

from __future__ import annotations

import pytest

from service.core.errors import SessionExpired, TooManySessions
from service.tracking.sessions import SessionStore


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_store_is_bounded_and_frees_closed_sessions() -> None:
    store = SessionStore(max_sessions=2, ttl_s=10, clock=Clock())
    first, second = store.open(1), store.open(1)
    with pytest.raises(TooManySessions):
        store.open(1)
    store.close(first.session_id)
    assert store.open(1).session_id not in (first.session_id, second.session_id)


def test_idle_sessions_expire_and_used_ones_stay() -> None:
    clock = Clock()
    store = SessionStore(max_sessions=2, ttl_s=10, clock=clock)
    idle, busy = store.open(1), store.open(1)
    clock.now = 8
    store.get(busy.session_id)
    clock.now = 12
    with pytest.raises(SessionExpired):
        store.get(idle.session_id)
    assert store.get(busy.session_id) is busy
    assert len(store) == 1
    store.open(1)  # the expired slot is free again


def test_sessions_do_not_share_state() -> None:
    store = SessionStore(max_sessions=4, ttl_s=10, clock=Clock())
    a, b = store.open(1), store.open(2)
    assert a.state is not b.state and a.lock is not b.lock
    assert (a.max_faces, b.max_faces) == (1, 2)
