"""``POST /v1/crop`` and ``POST /v1/crops``: face crops in, landmarks out."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from service.api import schemas
from service.api.deps import AdmissionDep, BlendshapesDep, CropPipelineDep, SettingsDep
from service.api.responses import faces_response, model_info
from service.api.uploads import IMAGE_FIELD, IMAGE_MEDIA_TYPES, UPLOAD_ERRORS, read_images
from service.core.admission import AdmissionController
from service.core.config import Settings
from service.pipelines.crops import CropPipeline
from service.pipelines.results import CropFace

router = APIRouter(prefix="/v1", tags=["faces"])

_ERRORS = schemas.error_responses(
    {
        **UPLOAD_ERRORS,
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


async def _landmarks(
    request: Request,
    settings: Settings,
    pipeline: CropPipeline,
    admission: AdmissionController,
    max_images: int,
    blendshapes: bool,
) -> Response:
    """Both routes: read up to ``max_images`` images, take a slot once the body is in, run
    the pipeline (with the blendshape scores when asked), respond."""
    payloads = await read_images(request, settings, max_images=max_images)
    async with admission.slot():  # only once the body is in
        results = await pipeline.run(payloads, blendshapes)
    return await _respond(results, model_info(settings, pipeline.backend.name, pipeline.pipeline))


async def _respond(results: list[CropFace], model: schemas.ModelInfo) -> Response:
    """The JSON response (the pipeline already gave each face its head gaze): one face is
    encoded on the loop, where a thread hand-off would cost more than the encoding; several
    in the threadpool, as several images are decoded."""
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
    return await _landmarks(
        request, settings, pipeline, admission, max_images=1, blendshapes=blendshapes
    )


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
    return await _landmarks(
        request,
        settings,
        pipeline,
        admission,
        max_images=settings.crops_max_images,
        blendshapes=blendshapes,
    )
