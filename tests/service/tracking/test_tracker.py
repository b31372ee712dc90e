"""``service/tracking/tracker.py``: one frame of a session on the real frame pipeline: the
session's face IDs carry over from frame to frame, smoothing follows the settings or the
request, and a session's counters move with its frames."""

from __future__ import annotations

import asyncio

from service.core.config import Settings
from service.pipelines.frames import FramePipeline
from service.tracking.sessions import SessionStore
from service.tracking.tracker import smoothing_params, track_frame
from tests.service.imagekit import DATA

FRAME = (DATA / "frames" / "dlib_2008_001009.jpg").read_bytes()


def test_smoothing_follows_the_request_then_the_settings() -> None:
    on = Settings(tracking_smoothing=True, smoothing_beta=7.0)
    params = smoothing_params(on)
    assert params is not None and params.beta == 7.0
    assert smoothing_params(on, enabled=False) is None
    assert smoothing_params(Settings(tracking_smoothing=False)) is None
    assert smoothing_params(Settings(tracking_smoothing=False), enabled=True) is not None


def test_a_face_keeps_its_id_and_the_detector_rests_while_it_is_tracked(
    frames: FramePipeline,
) -> None:
    store = SessionStore(max_sessions=2, ttl_s=60.0)
    session = store.open(max_faces=1, smoothing=smoothing_params(Settings()))

    async def three_frames() -> list[tuple[bool, list[int | None]]]:
        out = []
        for _ in range(3):
            result = await track_frame(frames, store, session.session_id, FRAME)
            out.append((result.detector_ran, [face.face_id for face in result.faces]))
        return out

    runs = asyncio.run(three_frames())
    assert [ran for ran, _ in runs] == [True, False, False]
    ids = {tuple(face_ids) for _, face_ids in runs}
    assert len(ids) == 1 and None not in next(iter(ids))
    assert (session.frames, session.detector_runs) == (3, 1)
    assert set(session.smoothers) == set(next(iter(ids)))
