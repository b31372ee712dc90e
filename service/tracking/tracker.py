"""One frame of one tracking session: the glue shared by the gRPC and WebSocket streams."""

from __future__ import annotations

from service.pipelines.frames import FramePipeline, FrameResult
from service.tracking.sessions import SessionStore


async def track_frame(
    frames: FramePipeline, store: SessionStore, session_id: int, payload: bytes
) -> FrameResult:
    """Process ``payload`` in session ``session_id``; frames of a session run one at a time,
    in arrival order. Raises ``SessionExpired``, ``InvalidImage`` or ``BackendUnavailable``."""
    session = store.get(session_id)
    async with session.lock:
        result = await frames.run(
            payload, session.max_faces, session.state, session.rotation_search
        )
        session.frames += 1
        session.detector_runs += int(result.detector_ran)
    return result
