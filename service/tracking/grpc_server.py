"""The ``FaceTracking.Track`` bidirectional stream on a ``grpc.aio`` server.

Runs in the gateway's event loop, next to the HTTP API, sharing its frame pipeline and
session store. Status codes: RESOURCE_EXHAUSTED when every session slot is taken,
UNAVAILABLE when a model cannot run, ABORTED when the session expired between two frames,
INVALID_ARGUMENT for a first frame's ``fov_degrees`` outside (0, 180).
An unusable frame (bad bytes, too large) does not end the stream: its result carries
``error`` and no faces.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import grpc
import numpy as np

from service.core.auth import AmbiguousKey, keys_match, presented_key
from service.core.config import Settings
from service.core.errors import InvalidImage, ServiceError, stream_ending
from service.pipelines.frames import FramePipeline, FrameResult
from service.tracking import tracking_pb2, tracking_pb2_grpc
from service.tracking.sessions import SessionStore
from service.tracking.tracker import smoothing_params, track_frame

logger = logging.getLogger(__name__)


def _floats(array: np.ndarray | None) -> list[float]:
    return [] if array is None else np.asarray(array, dtype=np.float32).ravel().tolist()


def result_message(index: int, frame: FrameResult) -> tracking_pb2.FrameResult:
    """``FrameResult`` -> protobuf message (frame pixels, flattened float arrays)."""
    message = tracking_pb2.FrameResult(
        frame_index=index,
        width=frame.width,
        height=frame.height,
        detector_ran=frame.detector_ran,
    )
    for face in frame.faces:
        result = face.result
        regions = result.regions or {}
        out = message.faces.add(
            score=result.score,
            landmarks=_floats(result.landmarks),
            lips_affine=_floats(regions["lips"].affine if regions else None),
            left_eye_affine=_floats(regions["left_eye"].affine if regions else None),
            right_eye_affine=_floats(regions["right_eye"].affine if regions else None),
        )
        roi = face.roi
        out.roi.CopyFrom(
            tracking_pb2.Roi(
                center_x=roi.center_x, center_y=roi.center_y, size=roi.width, rotation=roi.rotation
            )
        )
        out.face_id = face.face_id or 0
        if face.pose is not None:
            pose = face.pose
            out.pose.CopyFrom(
                tracking_pb2.Pose(
                    matrix=_floats(pose.matrix),
                    euler_degrees=tracking_pb2.EulerAngles(
                        pitch=pose.pitch, yaw=pose.yaw, roll=pose.roll
                    ),
                )
            )
        if face.detection is not None:
            box = face.detection.box
            out.detection.CopyFrom(
                tracking_pb2.Detection(
                    xmin=float(box[0]),
                    ymin=float(box[1]),
                    width=float(box[2]),
                    height=float(box[3]),
                    score=face.detection.score,
                    keypoints=_floats(face.detection.keypoints),
                    quarter_turns=face.detection.quarter_turns,
                )
            )
    return message


class FaceTrackingService:
    """The ``FaceTracking`` servicer: opens one session per stream, closes it when the stream
    ends."""

    def __init__(
        self,
        frames: FramePipeline,
        store: SessionStore,
        default_max_faces: int,
        max_faces_limit: int,
        api_keys: tuple[str, ...] = (),
        settings: Settings | None = None,
    ) -> None:
        self._settings = settings or frames.settings
        self._frames = frames
        self._store = store
        self._default_max_faces = default_max_faces
        self._limit = max_faces_limit
        self._api_keys = api_keys

    def _authorized(self, context: grpc.aio.ServicerContext[Any, Any]) -> str | None:
        """None when the call may go on, else why not (``FACEMESH_API_KEYS``, as on HTTP)."""
        if not self._api_keys:
            return None
        metadata = [(key.lower(), value) for key, value in context.invocation_metadata() or ()]
        try:  # the HTTP rule: a repeated x-api-key / authorization is refused
            presented = presented_key(
                lambda name: [_text(value) or "" for key, value in metadata if key == name]
            )
        except AmbiguousKey as exc:
            return str(exc)
        if presented is None:
            return "missing API key (x-api-key or authorization: Bearer metadata)"
        if not keys_match(presented, self._api_keys):
            return "invalid API key"
        return None

    async def Track(  # noqa: N802 (name fixed by the proto)
        self,
        request_iterator: AsyncIterator[tracking_pb2.Frame],
        context: grpc.aio.ServicerContext[tracking_pb2.Frame, tracking_pb2.FrameResult],
    ) -> AsyncIterator[tracking_pb2.FrameResult]:
        refused = self._authorized(context)
        if refused is not None:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, refused)
        session_id: int | None = None
        try:
            index = 0
            async for frame in request_iterator:
                if session_id is None:
                    wanted = frame.max_faces or self._default_max_faces
                    search = frame.rotation_search if frame.HasField("rotation_search") else None
                    smooth = frame.smoothing if frame.HasField("smoothing") else None
                    fov = frame.fov_degrees if frame.HasField("fov_degrees") else None
                    if fov is not None and not 0.0 < fov < 180.0:
                        await context.abort(
                            grpc.StatusCode.INVALID_ARGUMENT, "fov_degrees must be in (0, 180)"
                        )
                    try:
                        session_id = self._store.open(
                            min(wanted, self._limit),
                            search,
                            smoothing_params(self._settings, smooth),
                            fov,
                        ).session_id
                    except ServiceError as exc:
                        await _abort(context, exc)
                try:
                    assert session_id is not None
                    result = await track_frame(self._frames, self._store, session_id, frame.image)
                except InvalidImage as exc:
                    yield tracking_pb2.FrameResult(
                        frame_index=index,
                        error=tracking_pb2.Error(code=exc.code, message=exc.message),
                    )
                except ServiceError as exc:
                    await _abort(context, exc)
                else:
                    yield result_message(index, result)
                index += 1
        finally:
            if session_id is not None:
                self._store.close(session_id)


def _text(value: str | bytes | None) -> str | None:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


async def _abort(context: grpc.aio.ServicerContext[Any, Any], exc: ServiceError) -> None:
    """End the stream with the status ``service.core.errors.STREAM_ENDINGS`` maps ``exc`` to."""
    _, status = stream_ending(exc)
    await context.abort(grpc.StatusCode[status], exc.message)


async def start_grpc_server(
    service: FaceTrackingService, host: str, port: int
) -> tuple[grpc.aio.Server, int]:
    """Start the server on ``host:port`` (0: a free port); returns it and the bound port."""
    server = grpc.aio.server()
    stubs: Any = tracking_pb2_grpc  # generated, untyped
    stubs.add_FaceTrackingServicer_to_server(service, server)
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise RuntimeError(f"cannot bind the gRPC server to {host}:{port}")
    await server.start()
    logger.info("gRPC tracking stream on %s:%d", host, bound)
    return server, bound
