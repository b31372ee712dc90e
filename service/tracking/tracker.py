"""One frame of one tracking session: the glue shared by the gRPC and WebSocket streams."""

from __future__ import annotations

from dataclasses import replace

from service.contract import (
    LANDMARKER_SMOOTHING_BETA,
    LANDMARKER_SMOOTHING_DERIVATE_CUTOFF,
    LANDMARKER_SMOOTHING_MIN_CUTOFF,
    LANDMARKER_SMOOTHING_START_RATE,
)
from service.core.config import Settings
from service.pipelines.frames import FramePipeline
from service.pipelines.results import Fields, FrameResult
from service.tracking.sessions import SessionStore, TrackingSession
from service.tracking.smoothing import FaceSmoother, OneEuroParams


def smoothing_params(
    settings: Settings, enabled: bool | None = None, pipeline: str | None = None
) -> OneEuroParams | None:
    """The session's filter parameters from the settings; None when smoothing is off
    (``enabled`` from the request, None: ``Settings.tracking_smoothing``). A ``landmarker``
    session (``pipeline``, None: ``Settings.pipeline``) smooths as FaceLandmarker's video
    mode: its cutoffs and beta, 30 Hz for the first step, then the frame-rate setting."""
    if not (settings.tracking_smoothing if enabled is None else enabled):
        return None
    if (pipeline or settings.pipeline) == "landmarker":
        return OneEuroParams(
            min_cutoff=LANDMARKER_SMOOTHING_MIN_CUTOFF,
            beta=LANDMARKER_SMOOTHING_BETA,
            derivate_cutoff=LANDMARKER_SMOOTHING_DERIVATE_CUTOFF,
            frame_rate=settings.smoothing_frame_rate,
            first_rate=LANDMARKER_SMOOTHING_START_RATE,
        )
    return OneEuroParams(
        min_cutoff=settings.smoothing_min_cutoff,
        beta=settings.smoothing_beta,
        derivate_cutoff=settings.smoothing_derivate_cutoff,
        frame_rate=settings.smoothing_frame_rate,
    )


def finish_faces(session: TrackingSession, frame: FrameResult) -> FrameResult:
    """Give each face of ``frame`` its session face ID and, when the session smooths, its
    smoothed landmarks and regions (the ROIs in ``session.state`` stay from the raw ones).
    Filters of faces no longer tracked are dropped."""
    ids = session.face_ids.assign([face.tracked_from for face in frame.faces])
    smoothers: dict[int, FaceSmoother] = {}
    faces = []
    for face, face_id in zip(frame.faces, ids, strict=True):
        result = face.result
        if session.smoothing is not None:
            smoother = session.smoothers.get(face_id) or FaceSmoother(session.smoothing)
            smoothers[face_id] = smoother
            result = smoother(result)
        faces.append(replace(face, result=result, face_id=face_id))
    session.smoothers = smoothers
    return replace(frame, faces=faces)


async def track_frame(
    frames: FramePipeline,
    store: SessionStore,
    session_id: int,
    payload: bytes,
    fields: Fields | None = None,
    *,
    blendshapes: bool = False,
) -> FrameResult:
    """Process ``payload`` in session ``session_id``; frames of a session run one at a time,
    in arrival order; ``fields`` as ``FramePipeline.run``'s; ``blendshapes`` from the smoothed
    landmarks. Raises ``SessionExpired``, ``InvalidImage``, ``InvalidParameter`` (blendshapes
    asked, model not loaded) or ``BackendUnavailable``."""
    session = store.get(session_id)
    async with session.lock:
        result = await frames.run(
            payload,
            session.max_faces,
            session.state,
            session.rotation_search,
            fov_degrees=session.fov_degrees,
            finish=lambda frame: finish_faces(session, frame),
            blendshapes=blendshapes,
            fields=fields,
        )
        session.frames += 1
        session.detector_runs += int(result.detector_ran)
    return result
