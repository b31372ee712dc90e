"""What routes depend on, as typed ``Annotated[..., Depends()]`` aliases.

``Services`` holds everything the app builds at start-up (``service.lifespan``); with the
``Settings`` it is all the app keeps on ``app.state`` (``service.main`` stores both), and this
module is its only reader (``services_of`` for the OpenAPI schema, the dependencies below for
routes). The dependencies are ``async def``:
they only read app state, and FastAPI would run plain ``def`` dependencies in the threadpool (a
thread hop per dependency per request). They take an ``HTTPConnection`` so HTTP routes and the
WebSocket route share them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, cast

from fastapi import Depends, Query
from fastapi.exceptions import RequestValidationError
from starlette.applications import Starlette
from starlette.requests import HTTPConnection

from service.api import schemas
from service.api.responses import model_info
from service.contract import DetectorKind, PipelineName
from service.core.admission import AdmissionController
from service.core.config import Settings
from service.core.errors import InvalidParameter
from service.inference.batcher import ModelCaller
from service.pipelines.blendshapes import Blendshapes, require_blendshapes
from service.pipelines.crops import CropPipeline
from service.pipelines.detectors import Detectors
from service.pipelines.frames import FramePipeline
from service.pipelines.results import FACE_FIELDS, Fields
from service.tracking.sessions import SessionStore

if TYPE_CHECKING:
    import grpc


@dataclass
class Services:
    """Built once per app by ``service.lifespan.build_services``. ``crops`` maps each loaded
    pipeline name to its crop pipeline, the default (``Settings.pipeline``) first."""

    settings: Settings
    crops: dict[str, CropPipeline]
    frames: FramePipeline  # the default pipeline's
    # Every loaded face detector by kind (shared with ``frames``), for ``?detector=``.
    detectors: Detectors
    sessions: SessionStore
    admission: AdmissionController
    # Every model's one micro-batching caller (closed, with its model, by close_services).
    callers: list[ModelCaller[Any]] = field(default_factory=list)
    # Each loaded pipeline's frame pipeline (``?model=`` on frames and tracking), by name.
    frame_pipelines: dict[str, FramePipeline] = field(default_factory=dict)
    # The blendshape model (shared with every pipeline), None when not loaded.
    blendshapes: Blendshapes | None = None
    grpc_server: grpc.aio.Server | None = None
    grpc_port: int | None = None
    session_expiry: asyncio.Task[None] | None = None

    @property
    def default_crops(self) -> CropPipeline:
        return self.crops[self.settings.pipeline]


def services_of(app: Starlette) -> Services | None:
    """The app's ``Services``, None before the lifespan has built them."""
    return cast("Services | None", getattr(app.state, "services", None))


async def get_services(connection: HTTPConnection) -> Services:
    return cast(Services, connection.app.state.services)


async def get_app_settings(connection: HTTPConnection) -> Settings:
    """The ``Settings`` the app was built with (``create_app(settings)``); available before
    the lifespan has run, unlike ``Services``."""
    return cast(Settings, connection.app.state.settings)


ServicesDep = Annotated[Services, Depends(get_services)]


ModelQuery = Annotated[
    PipelineName | None,
    Query(
        description="Pipeline: `attention` (fused Attention Mesh), `cascade` (468-point "
        "mesh + iris model per eye) or `landmarker` (MediaPipe Tasks FaceLandmarker's landmark "
        "model and ROI rules; no region affines); default `FACEMESH_PIPELINE`. Only the "
        "pipelines loaded at start-up (`FACEMESH_PIPELINE`, `FACEMESH_EXTRA_PIPELINES`) can be "
        "chosen.",
    ),
]


async def get_crop_pipeline(services: ServicesDep, model: ModelQuery = None) -> CropPipeline:
    """The crop pipeline the request asks for (``?model=``), else the default one."""
    if model is None:
        return services.default_crops
    require_loaded("model", "pipeline", model, services.crops)
    return services.crops[model]


def require_loaded(param: str, what: str, name: str, loaded: Iterable[str]) -> None:
    """A 422 ``validation_error`` on query parameter ``param`` unless ``name`` is one of the
    ``loaded`` pipelines/detectors (``what`` names the kind in the message)."""
    names = list(loaded)
    if name not in names:
        message = f"{what} {name!r} is not loaded; loaded: {', '.join(names)}"
        raise RequestValidationError(
            [{"loc": ("query", param), "msg": message, "type": "value_error"}]
        )


async def get_frame_pipeline(services: ServicesDep, model: ModelQuery = None) -> FramePipeline:
    """The frame pipeline the request or session asks for (``?model=``), else the default."""
    if model is None:
        return services.frames
    require_loaded("model", "pipeline", model, services.frame_pipelines)
    return services.frame_pipelines[model]


async def get_detector_kind(
    services: ServicesDep,
    detector: Annotated[
        DetectorKind | None,
        Query(
            description="Face detector: MediaPipe's short-range model or its full-range model "
            "(small faces). Default: FACEMESH_DETECTOR. A detector that is not loaded is a 422.",
        ),
    ] = None,
) -> str | None:
    """The detector kind the request asks for (``?detector=``; None: the default), refused
    before the body is read when it is not loaded: ``Detectors.pick`` decides, and its
    ``InvalidParameter`` becomes a 422 on ``query.detector``."""
    if detector is not None:
        try:
            services.detectors.pick(detector)
        except InvalidParameter as exc:
            raise RequestValidationError(
                [{"loc": ("query", "detector"), "msg": exc.message, "type": "value_error"}]
            ) from exc
    return detector


async def get_fields(
    fields: Annotated[
        str | None,
        Query(
            description="Comma-separated parts of each face to compute and send: "
            + ", ".join(FACE_FIELDS)
            + " (a face always has image, score and face_id). Default: every part. Pose, "
            "gaze and iris distance are not computed when not asked for.",
        ),
    ] = None,
) -> Fields | None:
    """The parts of each face the answer is limited to (``?fields=``; None: every part);
    an unknown or empty list is a 422 before the body is read."""
    if fields is None:
        return None
    names = frozenset(name.strip() for name in fields.split(",") if name.strip())
    unknown = sorted(names - set(FACE_FIELDS))
    if not names or unknown:
        message = f"unknown fields {unknown}; known: {', '.join(FACE_FIELDS)}"
        if not names:
            message = f"no field named; known: {', '.join(FACE_FIELDS)}"
        raise RequestValidationError(
            [{"loc": ("query", "fields"), "msg": message, "type": "value_error"}]
        )
    return names


async def get_frame_model(services: ServicesDep, model: ModelQuery = None) -> schemas.ModelInfo:
    """The ``model`` block of frame and tracking responses: the frame pipeline runs its crop
    pipeline's landmark model (``?model=``, checked by ``get_frame_pipeline``)."""
    crops = services.crops.get(model) if model is not None else None
    chosen = crops or services.default_crops
    return model_info(services.settings, chosen.backend.name, chosen.pipeline)


async def get_blendshapes_wanted(
    services: ServicesDep,
    blendshapes: Annotated[
        bool,
        Query(
            description="Add each face's 52 blendshape scores (MediaPipe's names -> 0..1, "
            "FaceLandmarker's blendshape model on the face's landmarks). A 422 when the "
            "blendshape model is not loaded.",
        ),
    ] = False,
) -> bool:
    """``?blendshapes=``, refused (422) before the body is read when the model is not
    loaded."""
    if blendshapes:
        require_blendshapes(services.blendshapes)
    return blendshapes


async def get_sessions(services: ServicesDep) -> SessionStore:
    return services.sessions


async def get_admission(services: ServicesDep) -> AdmissionController:
    return services.admission


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
CropPipelineDep = Annotated[CropPipeline, Depends(get_crop_pipeline)]
FramePipelineDep = Annotated[FramePipeline, Depends(get_frame_pipeline)]
DetectorKindDep = Annotated[str | None, Depends(get_detector_kind)]
FieldsDep = Annotated[Fields | None, Depends(get_fields)]
FrameModelDep = Annotated[schemas.ModelInfo, Depends(get_frame_model)]
SessionsDep = Annotated[SessionStore, Depends(get_sessions)]
BlendshapesDep = Annotated[bool, Depends(get_blendshapes_wanted)]
AdmissionDep = Annotated[AdmissionController, Depends(get_admission)]
