"""Pipeline results -> HTTP and WebSocket answers: the ``model`` block and the JSON bodies of
``schemas.FacesResponse`` / ``schemas.FrameResponse``, built by ``service.encoders.json_body``
(rounded by ``service.encoders.rounding``, the rule the gRPC stream shares)."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.responses import Response

from service.api import schemas
from service.core.config import Settings
from service.encoders.json_body import encode, faces_body, frame_body
from service.pipelines.results import CropFace, FrameResult


def model_info(settings: Settings, backend: str, pipeline: str) -> schemas.ModelInfo:
    """The ``model`` block of every response: the served model, the backend (runtime) that ran
    it and the landmark pipeline."""
    return schemas.ModelInfo(
        name=settings.model_name, version=settings.model_version, backend=backend, pipeline=pipeline
    )


def faces_response(faces: Sequence[CropFace], model: schemas.ModelInfo) -> Response:
    """The ``schemas.FacesResponse`` JSON response for a request's crops."""
    return Response(encode(faces_body(faces, model.model_dump())), media_type="application/json")


def frame_json(frame: FrameResult, model: schemas.ModelInfo) -> bytes:
    """``schemas.FrameResponse`` as JSON bytes (HTTP body, WebSocket text message)."""
    return encode(frame_body(frame, model.model_dump()))


def frame_response(frame: FrameResult, model: schemas.ModelInfo) -> Response:
    """The ``schemas.FrameResponse`` JSON response for one frame."""
    return Response(frame_json(frame, model), media_type="application/json")
