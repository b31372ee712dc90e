"""Stable face IDs within one tracking session.

A face found from a tracked ROI (the previous frame's landmarks of face k) keeps face k's ID;
a face found by the detector gets a new one, so a face found again after being lost is a new
face. IDs are positive integers, never reused within a session.
"""

from __future__ import annotations


class FaceIds:
    """The IDs of the faces of the previous frame, in the order of ``TrackState.rois``."""

    def __init__(self) -> None:
        self._next = 1
        self._previous: list[int] = []

    def assign(self, tracked_from: list[int | None]) -> list[int]:
        """The IDs of this frame's faces, given for each the index of the tracked ROI (of the
        previous frame's faces) it came from, or None when it was detected. Two faces can
        never share an ID: a second face claiming the same ROI gets a new one."""
        ids: list[int] = []
        for source in tracked_from:
            if source is not None and 0 <= source < len(self._previous):
                candidate = self._previous[source]
                if candidate not in ids:
                    ids.append(candidate)
                    continue
            ids.append(self._next)
            self._next += 1
        self._previous = ids
        return ids
