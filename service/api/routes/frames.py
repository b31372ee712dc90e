"""``POST /v1/frame`` (every face of a whole frame) and ``/v1/track`` (WebSocket tracking)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.exceptions import RequestValidationError
from starlette.responses import Response

from service.api import schemas
from service.api.deps import FramePipelineDep, SessionsDep, SettingsDep
from service.api.guards import WEBSOCKET_SUBPROTOCOL
from service.api.responses import encode, frame_body, frame_response
from service.api.uploads import IMAGE_MEDIA_TYPES, read_images
from service.core.error_handlers import stream_ending
from service.core.errors import InvalidImage, ServiceError
from service.pipelines.frames import FramePipeline
from service.tracking.tracker import smoothing_params, track_frame

router = APIRouter(prefix="/v1", tags=["frames"])

_ERRORS = schemas.error_responses(
    {
        413: "Body or image pixel count over the limit (`body_too_large`, `image_too_large`).",
        415: "Unsupported Content-Type (`unsupported_media_type`).",
        422: "Unusable input (`empty_body`, `not_an_image`, `corrupt_image`, `image_too_small`, "
        "`validation_error`, ...).",
        503: "Landmark model or face detector unavailable (`backend_unavailable`).",
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


def _model_info(settings: SettingsDep, frames: FramePipeline) -> schemas.ModelInfo:
    return schemas.ModelInfo(
        name=settings.model_name,
        version=settings.model_version,
        backend=frames.mesh.name,
        pipeline=frames.pipeline,
    )


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
    max_faces: MaxFaces = None,
    rotation_search: RotationSearch = None,
    fov_degrees: FovDegrees = None,
    detector: DetectorKind = None,
) -> Response:
    if detector is not None and detector not in frames.detectors:
        message = f"detector {detector!r} is not loaded; loaded: {', '.join(frames.detectors)}"
        raise RequestValidationError(
            [{"loc": ("query", "detector"), "msg": message, "type": "value_error"}]
        )
    (payload,) = await read_images(request, max_body_bytes=settings.max_body_bytes, max_images=1)
    limit = min(max_faces or settings.max_faces, settings.max_faces)
    result = await frames.run(
        payload,
        limit,
        rotation_search=rotation_search,
        fov_degrees=fov_degrees,
        detector=detector,
    )
    return frame_response(result, _model_info(settings, frames))


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
    """Tracking session for browsers: send each frame as one binary message (JPEG/PNG/WebP),
    receive one JSON text message per frame (``FrameResponse``, in order). Subprotocol
    ``facemesh.v1`` (offer ``apikey.<key>`` beside it to authenticate from a browser). Errors
    for one frame come back as ``{"error": {"code", "message"}}`` and the session goes on."""
    limit = min(max_faces or app_settings.tracking_max_faces, app_settings.max_faces)
    # A browser that offered subprotocols (e.g. to carry its API key) needs one selected.
    offered = websocket.scope.get("subprotocols", [])
    await websocket.accept(subprotocol=WEBSOCKET_SUBPROTOCOL if offered else None)
    try:
        session = store.open(
            limit, rotation_search, smoothing_params(app_settings, smoothing), fov_degrees
        )
    except ServiceError as exc:
        await websocket.close(code=stream_ending(exc)[0], reason=exc.message[:120])
        return
    model = _model_info(app_settings, frames)
    try:
        while True:
            payload = await websocket.receive_bytes()
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
