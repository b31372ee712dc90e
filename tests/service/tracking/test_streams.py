"""How both stream transports open a session (``service/tracking/streams.py``): one clamp of
``max_faces``, one check of ``fov_degrees``, the smoothing parameters from the settings."""

from __future__ import annotations

import math

import pytest

from service.core.config import CAMERA_FOV_DEGREES_MAX, CAMERA_FOV_DEGREES_MIN, Settings
from service.core.errors import InvalidParameter, PayloadTooLarge, status_for, stream_ending
from service.tracking.sessions import SessionStore
from service.tracking.streams import StreamOptions, frame_error, open_session

SETTINGS = Settings(max_faces=4, tracking_max_faces=2, tracking_smoothing=True)


@pytest.mark.parametrize(
    ("asked", "granted"), [(None, 2), (0, 2), (1, 1), (4, 4), (5, 4), (2**32 - 1, 4)]
)
def test_max_faces_defaults_to_the_tracking_setting_and_is_capped(
    asked: int | None, granted: int
) -> None:
    session = open_session(SessionStore(4, 60.0), SETTINGS, StreamOptions(max_faces=asked))
    assert session.max_faces == granted


@pytest.mark.parametrize(
    "fov", [1e-300, 0.0, -1.0, CAMERA_FOV_DEGREES_MIN - 1e-9, 170.0, 180.0, math.nan, math.inf]
)
def test_a_fov_outside_the_camera_range_opens_no_session(fov: float) -> None:
    store = SessionStore(4, 60.0)
    with pytest.raises(InvalidParameter) as refused:
        open_session(store, SETTINGS, StreamOptions(fov_degrees=fov))
    assert len(store) == 0
    assert "fov_degrees" in refused.value.message
    assert status_for(refused.value) == 422
    assert stream_ending(refused.value)[1] == "INVALID_ARGUMENT"


@pytest.mark.parametrize("fov", [None, CAMERA_FOV_DEGREES_MIN, 63.0, CAMERA_FOV_DEGREES_MAX])
def test_the_camera_range_and_the_default_open_a_session(fov: float | None) -> None:
    session = open_session(SessionStore(4, 60.0), SETTINGS, StreamOptions(fov_degrees=fov))
    assert session.fov_degrees == fov


def test_smoothing_follows_the_setting_unless_the_stream_chooses() -> None:
    store = SessionStore(4, 60.0)
    assert open_session(store, SETTINGS, StreamOptions()).smoothing is not None
    assert open_session(store, SETTINGS, StreamOptions(smoothing=False)).smoothing is None


def test_frame_messages_are_held_to_the_body_limit() -> None:
    assert frame_error(b"x" * 10, 10) is None
    assert isinstance(frame_error(b"x" * 11, 10), PayloadTooLarge)
    text = frame_error(None, 10)
    assert text is not None and text.code == "unsupported_message"
