"""``service/pipelines/results.py``: results are frozen values; a session's ``TrackState`` is
its own (two sessions never share ROIs)."""

from __future__ import annotations

import dataclasses

import pytest

from service.pipelines.results import FrameFace, FrameResult, TrackState
from service.processing.postprocess import FaceResult
from service.processing.warp import RotatedRect

FACE = FrameFace(FaceResult(8, 8, 0.1, None, None), RotatedRect(4.0, 4.0, 8.0, 8.0), None)


def test_results_cannot_be_changed_after_the_fact() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        FACE.face_id = 3  # type: ignore[misc]
    frame = FrameResult(8, 8, [FACE], detector_ran=True)
    with pytest.raises(dataclasses.FrozenInstanceError):
        frame.detector_ran = False  # type: ignore[misc]
    assert dataclasses.replace(FACE, face_id=3).face_id == 3 and FACE.face_id is None


def test_each_track_state_starts_empty_and_owns_its_rois() -> None:
    first, second = TrackState(), TrackState()
    first.rois.append(RotatedRect(1.0, 2.0, 3.0, 4.0))
    assert second.rois == [] and len(first.rois) == 1
