"""``POST /v1/frame`` (every face of a whole frame) and ``/v1/track`` (WebSocket tracking)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, WebSocket, WebSocketDisconnect
from starlette.responses import Response

from service.api import schemas
from service.api.deps import (
    AdmissionDep,
    FramePipelineDep,
    SessionsDep,
    SettingsDep,
    require_loaded,
)
from service.api.guards import WEBSOCKET_SUBPROTOCOL
from service.api.responses import encode, frame_body, frame_response, model_info
from service.api.uploads import IMAGE_MEDIA_TYPES, read_images
from service.core.errors import InvalidImage, PayloadTooLarge, ServiceError, stream_ending
from service.tracking.tracker import smoothing_params, track_frame

router = APIRouter(prefix="/v1", tags=["frames"])

# An idle session ends like an expired one (service.core.errors.STREAM_ENDINGS).
_WS_POLICY = 1008

_ERRORS = schemas.error_responses(
    {
        408: "Request body not received in time (`body_timeout`).",
        413: "Body, image pixel count or decoded size over the limit (`body_too_large`, "
        "`image_too_large`, `decode_budget_exceeded`).",
        415: "Unsupported Content-Type (`unsupported_media_type`).",
        422: "Unusable input (`empty_body`, `not_an_image`, `corrupt_image`, `image_too_small`, "
        "`validation_error`, ...).",
        503: "Landmark model or face detector unavailable, or the server is busy "
        "(`backend_unavailable`, `overloaded`; with Retry-After).",
    }
)

MaxFaces = Annotated[
    int | None,
    Query(ge=1, description="Most faces to return (capped at FACEMESH_MAX_FACES)."),
]
RotationSearch = Annotated[
    bool | None,
    Query(
        description="When the detector finds no face, search the frame again turned by 90, "
        "180 and 270 degrees (finds upside-down faces; MediaPipe does not). Default: "
        "FACEMESH_DETECTION_ROTATION_SEARCH."
    ),
]
DetectorKind = Annotated[
    Literal["short", "full"] | None,
    Query(
        description="Face detector: MediaPipe's short-range model or its full-range model "
        "(small faces). Default: FACEMESH_DETECTOR. A detector that is not loaded is a 422."
    ),
]
FovDegrees = Annotated[
    float | None,
    Query(
        gt=0,
        lt=180,
        description="Vertical field of view (degrees) of the camera, for head pose. Default: "
        "FACEMESH_CAMERA_FOV_DEGREES (63, MediaPipe's).",
    ),
]
Smoothing = Annotated[
    bool | None,
    Query(
        description="Tracking sessions: smooth landmarks over frames (One Euro filter). "
        "Default: FACEMESH_TRACKING_SMOOTHING (on)."
    ),
]


@router.post(
    "/frame",
    response_model=schemas.FrameResponse,
    responses=_ERRORS,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                t: {"schema": {"type": "string", "format": "binary"}}
                for t in sorted(IMAGE_MEDIA_TYPES)
            },
        }
    },
    summary="Every face in a whole frame: detector, ROIs, landmarks in frame pixels.",
)
async def frame(
    request: Request,
    settings: SettingsDep,
    frames: FramePipelineDep,
    admission: AdmissionDep,
    max_faces: MaxFaces = None,
    rotation_search: RotationSearch = None,
    fov_degrees: FovDegrees = None,
    detector: DetectorKind = None,
) -> Response:
    if detector is not None:
        require_loaded("detector", "detector", detector, frames.detectors)
    (payload,) = await read_images(request, settings, max_images=1)
    limit = min(max_faces or settings.max_faces, settings.max_faces)
    async with admission.slot():  # only once the body is in
        result = await frames.run(
            payload,
            limit,
            rotation_search=rotation_search,
            fov_degrees=fov_degrees,
            detector=detector,
        )
    return frame_response(result, model_info(settings, frames.mesh.name, frames.pipeline))


@router.websocket("/track")
async def track(
    websocket: WebSocket,
    app_settings: SettingsDep,
    frames: FramePipelineDep,
    store: SessionsDep,
    max_faces: MaxFaces = None,
    rotation_search: RotationSearch = None,
    smoothing: Smoothing = None,
    fov_degrees: FovDegrees = None,
) -> None:
    """Tracking session for browsers: send each frame as one binary message (JPEG/PNG/WebP,
    at most ``FACEMESH_MAX_BODY_BYTES``), receive one JSON text message per frame
    (``FrameResponse``, in order). Subprotocol ``facemesh.v1``, selected only when the client
    offers it (RFC 6455; offer ``apikey.<key>`` beside it to authenticate from a browser).
    Errors for one frame (a bad image, a text message) come back as
    ``{"error": {"code", "message"}}`` and the session goes on. A session idle for
    ``FACEMESH_TRACKING_SESSION_TTL_S`` is closed (1008)."""
    limit = min(max_faces or app_settings.tracking_max_faces, app_settings.max_faces)
    offered = websocket.scope.get("subprotocols", [])
    await websocket.accept(
        subprotocol=WEBSOCKET_SUBPROTOCOL if WEBSOCKET_SUBPROTOCOL in offered else None
    )
    try:
        session = store.open(
            limit, rotation_search, smoothing_params(app_settings, smoothing), fov_degrees
        )
    except ServiceError as exc:
        await websocket.close(code=stream_ending(exc)[0], reason=exc.message[:120])
        return
    model = model_info(app_settings, frames.mesh.name, frames.pipeline)
    try:
        while True:
            try:
                async with asyncio.timeout(app_settings.tracking_session_ttl_s):
                    message = await websocket.receive()
            except TimeoutError:
                await websocket.close(code=_WS_POLICY, reason="tracking session expired (idle)")
                return
            if message["type"] == "websocket.disconnect":
                return
            payload = message.get("bytes")
            error = _frame_error(payload, app_settings.max_body_bytes)
            if error is not None:
                await websocket.send_json({"error": {"code": error.code, "message": error.message}})
                continue
            assert payload is not None
            try:
                result = await track_frame(frames, store, session.session_id, payload)
            except InvalidImage as exc:
                await websocket.send_json({"error": {"code": exc.code, "message": exc.message}})
                continue
            except ServiceError as exc:
                await websocket.close(code=stream_ending(exc)[0], reason=exc.message[:120])
                return
            await websocket.send_text(encode(frame_body(result, model)).decode())
    except WebSocketDisconnect:
        pass
    finally:
        store.close(session.session_id)


def _frame_error(payload: bytes | None, max_bytes: int) -> ServiceError | None:
    """Why a WebSocket message cannot be a frame, or None."""
    if payload is None:
        return ServiceError(
            "unsupported_message", "send each frame as one binary message (text is not a frame)"
        )
    if len(payload) > max_bytes:
        return PayloadTooLarge(
            "body_too_large", f"frame is {len(payload)} bytes, the limit is {max_bytes}"
        )
    return None
