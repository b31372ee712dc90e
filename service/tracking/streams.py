"""How every tracking stream (WebSocket ``/v1/track``, gRPC ``Track``) opens its session and
checks a frame message: one clamp of ``max_faces``, one check of ``fov_degrees``, one size
limit, one way an idle stream ends.

A stream's options come from its handshake query (WebSocket) or its first frame (gRPC);
``open_session`` applies them the same way for both and raises ``InvalidParameter``
(422 / ``INVALID_ARGUMENT``) for a field of view outside the camera range
(``CAMERA_FOV_DEGREES_MIN`` .. ``_MAX``), ``TooManySessions`` when every slot is taken.
"""

from __future__ import annotations

from dataclasses import dataclass

from service.core.config import CAMERA_FOV_DEGREES_MAX, CAMERA_FOV_DEGREES_MIN, Settings
from service.core.errors import InvalidParameter, PayloadTooLarge, ServiceError, SessionExpired
from service.tracking.sessions import SessionStore, TrackingSession
from service.tracking.tracker import smoothing_params


@dataclass(frozen=True)
class StreamOptions:
    """What a client may choose per stream; None (or 0 faces): the setting's default."""

    max_faces: int | None = None
    rotation_search: bool | None = None
    smoothing: bool | None = None
    fov_degrees: float | None = None
    pipeline: str | None = None  # the landmark pipeline (None: Settings.pipeline)


def check_fov_degrees(fov_degrees: float | None) -> None:
    """``InvalidParameter`` unless ``fov_degrees`` is None or within the camera range."""
    if fov_degrees is not None and not (
        CAMERA_FOV_DEGREES_MIN <= fov_degrees <= CAMERA_FOV_DEGREES_MAX
    ):
        raise InvalidParameter(
            f"fov_degrees must be in [{CAMERA_FOV_DEGREES_MIN:g}, {CAMERA_FOV_DEGREES_MAX:g}] "
            f"(a camera's vertical field of view), got {fov_degrees:g}"
        )


def open_session(
    store: SessionStore, settings: Settings, options: StreamOptions
) -> TrackingSession:
    """A new session in ``store`` with ``options`` applied: at most
    ``Settings.max_faces`` faces (default ``tracking_max_faces``), the fov checked, the
    smoothing parameters from the settings (and the pipeline)."""
    check_fov_degrees(options.fov_degrees)
    max_faces = min(options.max_faces or settings.tracking_max_faces, settings.max_faces)
    return store.open(
        max_faces,
        options.rotation_search,
        smoothing_params(settings, options.smoothing, options.pipeline),
        options.fov_degrees,
    )


def frame_error(payload: bytes | None, max_bytes: int) -> ServiceError | None:
    """Why a stream message cannot be a frame (answered in band; the stream goes on), or
    None."""
    if payload is None:
        return ServiceError(
            "unsupported_message", "send each frame as one binary message (text is not a frame)"
        )
    if len(payload) > max_bytes:
        return PayloadTooLarge(
            "body_too_large", f"frame is {len(payload)} bytes, the limit is {max_bytes}"
        )
    return None


def idle_expiry(session: TrackingSession) -> SessionExpired:
    """The error an idle stream ends with (WebSocket 1008, gRPC ``ABORTED``)."""
    return SessionExpired(session.session_id)
