"""Pipeline results -> HTTP and WebSocket answers: the ``model`` block and the JSON bodies of
``schemas.FacesResponse`` / ``schemas.FrameResponse``, built by ``service.encoders.json_body``
(rounded by ``service.encoders.rounding``, the rule the gRPC stream shares)."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.responses import Response

from service.api import schemas
from service.core.config import Settings
from service.encoders.json_body import encode, faces_body, frame_body
from service.encoders.protobuf import result_message
from service.pipelines.results import CropFace, Fields, FrameResult

# The binary answer's media type (``Accept``): the gRPC stream's ``FrameResult`` message.
PROTOBUF_MEDIA_TYPE = "application/x-protobuf"


def model_info(settings: Settings, backend: str, pipeline: str) -> schemas.ModelInfo:
    """The ``model`` block of every response: the served model, the backend (runtime) that ran
    it and the landmark pipeline."""
    return schemas.ModelInfo(
        name=settings.model_name, version=settings.model_version, backend=backend, pipeline=pipeline
    )


def faces_response(faces: Sequence[CropFace], model: schemas.ModelInfo) -> Response:
    """The ``schemas.FacesResponse`` JSON response for a request's crops."""
    return Response(encode(faces_body(faces, model.model_dump())), media_type="application/json")


def frame_json(frame: FrameResult, model: schemas.ModelInfo, fields: Fields | None = None) -> bytes:
    """``schemas.FrameResponse`` as JSON bytes (HTTP body, WebSocket text message), each face
    limited to ``fields`` (None: every part)."""
    return encode(frame_body(frame, model.model_dump(), fields))


def frame_protobuf(frame: FrameResult, index: int = 0, fields: Fields | None = None) -> bytes:
    """The frame as the tracking proto's serialised ``FrameResult`` message (``index``: its
    place in a stream; 0 for a single frame); the ``model`` block is not part of it."""
    data: bytes = result_message(index, frame, fields).SerializeToString()
    return data


def wants_protobuf(accept: str | None) -> bool:
    """Whether an ``Accept`` header asks for the binary answer (it names its media type)."""
    return accept is not None and PROTOBUF_MEDIA_TYPE in accept.lower()


def frame_response(
    frame: FrameResult,
    model: schemas.ModelInfo,
    fields: Fields | None = None,
    accept: str | None = None,
) -> Response:
    """The answer for one frame: ``schemas.FrameResponse`` JSON, or the protobuf
    ``FrameResult`` when ``accept`` asks for it; each face limited to ``fields``."""
    if wants_protobuf(accept):
        return Response(frame_protobuf(frame, 0, fields), media_type=PROTOBUF_MEDIA_TYPE)
    return Response(frame_json(frame, model, fields), media_type="application/json")
