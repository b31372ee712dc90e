"""Tracking sessions: one per stream, bounded in number, expiring when idle, isolated.

Each session owns its own ``TrackState`` (the previous frame's ROIs), its faces' IDs and
smoothing filters, and an ``asyncio.Lock``,
so one stream's frames are processed strictly in order and never see another stream's state.
``expire_every`` (started with the app) drops idle sessions on a timer, so their slots free
up even when no frame arrives; ``open`` also drops expired sessions first, then refuses
(``TooManySessions``, 503) when the store is full. ``get`` refuses an expired or closed
session (``SessionExpired``). The clock is injectable for tests.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from service.core.errors import SessionExpired, TooManySessions
from service.pipelines.results import TrackState
from service.tracking.face_ids import FaceIds
from service.tracking.smoothing import FaceSmoother, OneEuroParams


@dataclass
class TrackingSession:
    """One stream's tracking state. ``frames`` and ``detector_runs`` count its history.
    ``smoothing``: the One Euro parameters, None when the session is not smoothed;
    ``smoothers``: one filter set per live face ID."""

    session_id: int
    max_faces: int
    last_used: float
    rotation_search: bool | None = None  # None: Settings.detection_rotation_search
    smoothing: OneEuroParams | None = None
    fov_degrees: float | None = None  # None: Settings.camera_fov_degrees
    state: TrackState = field(default_factory=TrackState)
    face_ids: FaceIds = field(default_factory=FaceIds)
    smoothers: dict[int, FaceSmoother] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    frames: int = 0
    detector_runs: int = 0


class SessionStore:
    """At most ``max_sessions`` sessions; a session unused for ``ttl_s`` seconds expires."""

    def __init__(
        self, max_sessions: int, ttl_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_sessions = max_sessions
        self.ttl_s = ttl_s
        self._clock = clock
        self._sessions: dict[int, TrackingSession] = {}
        self._ids = itertools.count(1)

    def __len__(self) -> int:
        return len(self._sessions)

    def expire(self) -> int:
        """Drop every session idle for longer than the TTL; returns how many."""
        now = self._clock()
        stale = [sid for sid, s in self._sessions.items() if now - s.last_used > self.ttl_s]
        for sid in stale:
            del self._sessions[sid]
        return len(stale)

    async def expire_every(self, interval_s: float) -> None:
        """Drop expired sessions every ``interval_s`` seconds, until cancelled."""
        while True:
            await asyncio.sleep(interval_s)
            self.expire()

    def open(
        self,
        max_faces: int,
        rotation_search: bool | None = None,
        smoothing: OneEuroParams | None = None,
        fov_degrees: float | None = None,
    ) -> TrackingSession:
        """A new empty session tracking up to ``max_faces`` faces; ``rotation_search`` as in
        ``FramePipeline.process`` (None: the setting); ``smoothing``: the filter parameters,
        None for raw landmarks; ``fov_degrees`` for head pose (None: the setting)."""
        self.expire()
        if len(self._sessions) >= self.max_sessions:
            raise TooManySessions(self.max_sessions)
        session = TrackingSession(
            next(self._ids), max_faces, self._clock(), rotation_search, smoothing, fov_degrees
        )
        self._sessions[session.session_id] = session
        return session

    def get(self, session_id: int) -> TrackingSession:
        """The live session ``session_id`` (its idle clock restarts), or ``SessionExpired``."""
        session = self._sessions.get(session_id)
        if session is None or self._clock() - session.last_used > self.ttl_s:
            self._sessions.pop(session_id, None)
            raise SessionExpired(session_id)
        session.last_used = self._clock()
        return session

    def close(self, session_id: int) -> None:
        self._sessions.pop(session_id, None)
