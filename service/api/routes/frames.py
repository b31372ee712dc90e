"""``POST /v1/frame``: every face of a whole frame (``/v1/track`` is in ``routes.track``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from service.api import schemas
from service.api.deps import (
    AdmissionDep,
    BlendshapesDep,
    DetectorKindDep,
    FieldsDep,
    FrameModelDep,
    FramePipelineDep,
    SettingsDep,
)
from service.api.responses import PROTOBUF_MEDIA_TYPE, frame_response
from service.api.uploads import IMAGE_MEDIA_TYPES, UPLOAD_ERRORS, read_images
from service.core.config import CAMERA_FOV_DEGREES_MAX, CAMERA_FOV_DEGREES_MIN, Settings

router = APIRouter(prefix="/v1", tags=["frames"])

_ERRORS = schemas.error_responses(
    {
        **UPLOAD_ERRORS,
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
FOV_DESCRIPTION = (
    "Vertical field of view (degrees) of the camera, for head pose: "
    f"{CAMERA_FOV_DEGREES_MIN:g} to {CAMERA_FOV_DEGREES_MAX:g} (what a camera lens can have). "
    "Default: FACEMESH_CAMERA_FOV_DEGREES "
    f"({Settings.model_fields['camera_fov_degrees'].default:g}, MediaPipe's)."
)
FovDegrees = Annotated[
    float | None,
    Query(ge=CAMERA_FOV_DEGREES_MIN, le=CAMERA_FOV_DEGREES_MAX, description=FOV_DESCRIPTION),
]


@router.post(
    "/frame",
    response_model=schemas.FrameResponse,
    responses={
        200: {
            "description": "Every face of the frame: JSON (`FrameResponse`), or with "
            f"`Accept: {PROTOBUF_MEDIA_TYPE}` the tracking proto's `FrameResult` message.",
            "content": {PROTOBUF_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
        },
        **_ERRORS,
    },
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
    model: FrameModelDep,
    detector: DetectorKindDep,
    blendshapes: BlendshapesDep,
    fields: FieldsDep,
    max_faces: MaxFaces = None,
    rotation_search: RotationSearch = None,
    fov_degrees: FovDegrees = None,
) -> Response:
    (payload,) = await read_images(request, settings, max_images=1)
    limit = min(max_faces or settings.max_faces, settings.max_faces)
    async with admission.slot():  # only once the body is in
        result = await frames.run(
            payload,
            limit,
            rotation_search=rotation_search,
            fov_degrees=fov_degrees,
            detector_kind=detector,
            blendshapes=blendshapes,
            fields=fields,
        )
    return frame_response(result, model, fields, request.headers.get("accept"))
