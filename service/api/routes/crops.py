"""``POST /v1/crop`` and ``POST /v1/crops``: face crops in, landmarks out."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from service.api import schemas
from service.api.deps import AdmissionDep, BlendshapesDep, CropPipelineDep, SettingsDep
from service.api.responses import faces_response, model_info
from service.api.uploads import IMAGE_FIELD, IMAGE_MEDIA_TYPES, read_images
from service.pipelines.results import CropFace

router = APIRouter(prefix="/v1", tags=["faces"])

_ERRORS = schemas.error_responses(
    {
        408: "Request body not received in time (`body_timeout`).",
        413: "Body, image pixel count or decoded size over the limit (`body_too_large`, "
        "`image_too_large`, `decode_budget_exceeded`).",
        415: "Unsupported Content-Type (`unsupported_media_type`).",
        422: "Unusable input (`empty_body`, `not_an_image`, `corrupt_image`, `image_too_small`, "
        "`too_many_images`, `missing_image`, `invalid_multipart`, `unsupported_image_mode`).",
        503: "Inference backend unavailable or the server is busy (`backend_unavailable`, "
        "`overloaded`; with Retry-After).",
    }
)


def _body_doc(multiple: bool) -> dict[str, Any]:
    image = {"type": "string", "format": "binary"}
    field = {"type": "array", "items": image} if multiple else image
    content: dict[str, Any] = {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {IMAGE_FIELD: field},
                "required": [IMAGE_FIELD],
            }
        }
    }
    if not multiple:
        content.update({t: {"schema": image} for t in sorted(IMAGE_MEDIA_TYPES)})
    return {"requestBody": {"required": True, "content": content}}


async def _respond(results: list[CropFace], model: schemas.ModelInfo) -> Response:
    """The response, with each face's head gaze (a small weighted fit per face): one face on
    the loop, where a thread hand-off would cost more than the fit; several in the threadpool,
    as several images are decoded."""
    if len(results) <= 1:
        return faces_response(results, model)
    return await run_in_threadpool(faces_response, results, model)


@router.post(
    "/crop",
    response_model=schemas.FacesResponse,
    responses=_ERRORS,
    openapi_extra=_body_doc(multiple=False),
    summary="Landmarks for one face crop (raw image body or multipart field `image`).",
)
async def crop(
    request: Request,
    settings: SettingsDep,
    pipeline: CropPipelineDep,
    admission: AdmissionDep,
    blendshapes: BlendshapesDep,
) -> Response:
    payloads = await read_images(request, settings, max_images=1)
    async with admission.slot():  # only once the body is in
        results = await pipeline.run(payloads, blendshapes)
    return await _respond(results, model_info(settings, pipeline.backend.name, pipeline.pipeline))


@router.post(
    "/crops",
    response_model=schemas.FacesResponse,
    responses=_ERRORS,
    openapi_extra=_body_doc(multiple=True),
    summary="Landmarks for several face crops (multipart fields `image`), one model call.",
)
async def crops(
    request: Request,
    settings: SettingsDep,
    pipeline: CropPipelineDep,
    admission: AdmissionDep,
    blendshapes: BlendshapesDep,
) -> Response:
    payloads = await read_images(request, settings, max_images=settings.max_batch_images)
    async with admission.slot():  # only once the body is in
        results = await pipeline.run(payloads, blendshapes)
    return await _respond(results, model_info(settings, pipeline.backend.name, pipeline.pipeline))
