"""What the app builds when it starts and tears down when it stops.

``build_services`` loads every backend (off the event loop), builds every model's one
``ModelCaller`` (``mesh_caller``, ``detector_caller``: micro-batching shared by every endpoint),
the crop pipelines (one per loaded pipeline name), the frame pipeline, the tracking-session
store (and its expiry timer), the admission queue, the process-wide decoded-memory budget and,
with ``FACEMESH_GRPC_ENABLED``, the gRPC tracking server; ``close_services`` stops them in the
reverse order (closing a caller closes its model). Routes reach them through
``service.api.deps``.

The detector shares the landmark model's backend choice (``Settings.backend``). When it cannot
be loaded (model file not built), the gateway still serves the crop endpoints; frame routes
answer 503 ``backend_unavailable`` until it is available.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np
from starlette.concurrency import run_in_threadpool

from service.api.deps import Services
from service.contract import (
    BLENDSHAPES_MODEL,
    BLENDSHAPES_SPEC,
    DETECTORS,
    PIPELINE_INPUT_SIZES,
    ModelOutputs,
    detector_model,
)
from service.core.admission import AdmissionController
from service.core.config import Settings
from service.core.errors import BackendUnavailable
from service.inference.base import InferenceBackend, check_image_batch, check_input_batch
from service.inference.batcher import ModelCaller, array_rows, pair_rows
from service.inference.blendshapes import BlendshapeBackend, create_blendshapes
from service.inference.detector import DetectorBackend, DetectorCaller, create_detector
from service.inference.factory import create_pipeline_backend
from service.pipelines.blendshapes import Blendshapes
from service.pipelines.crops import CropPipeline
from service.pipelines.decode_budget import DecodeBudget
from service.pipelines.detectors import Detector, Detectors
from service.pipelines.frame_decode import FrameDecoder
from service.pipelines.frames import FramePipeline
from service.pipelines.landmarker import LandmarkerLandmarks
from service.pipelines.landmarks import FrameLandmarks
from service.tracking.sessions import SessionStore

logger = logging.getLogger(__name__)


def mesh_caller(
    backend: InferenceBackend, settings: Settings, pipeline: str = "attention"
) -> ModelCaller[ModelOutputs]:
    """The one ``ModelCaller`` of a landmark pipeline's backend, labelled ``pipeline``
    (``attention``, ``cascade`` or ``landmarker``); closing it closes the backend."""
    size = PIPELINE_INPUT_SIZES[pipeline]
    return ModelCaller(
        backend.infer,
        ModelOutputs.rows,
        model=pipeline,
        concurrency=settings.inference_concurrency,
        max_batch=settings.batch_max_size,
        max_delay_us=settings.batch_max_delay_us,
        check=lambda images: check_image_batch(images, size),
        close=backend.close,
        batch_sizes=backend.batch_sizes,
    )


def detector_caller(detector: DetectorBackend, settings: Settings) -> DetectorCaller:
    """The one ``ModelCaller`` of a face detector, labelled ``detector_<kind>`` (``short``,
    ``full``); closing it closes the detector."""
    size = detector.spec.input_size
    return ModelCaller(
        detector.detect,
        pair_rows,
        model=detector_model(detector.spec.name),
        concurrency=settings.inference_concurrency,
        max_batch=settings.batch_max_size,
        max_delay_us=settings.batch_max_delay_us,
        check=lambda images: check_image_batch(images, size),
        close=detector.close,
        batch_sizes=detector.batch_sizes,
    )


def detectors(
    loaded: Mapping[str, DetectorBackend], settings: Settings
) -> tuple[Detectors, list[DetectorCaller]]:
    """The kind -> detector map of the ``loaded`` detector backends (kind -> backend), each
    with its one ``ModelCaller`` (also returned, for closing)."""
    callers = {kind: detector_caller(backend, settings) for kind, backend in loaded.items()}
    found = Detectors(
        {
            kind: Detector(backend.spec, callers[kind], settings.detection_score_threshold)
            for kind, backend in loaded.items()
        },
        default=settings.detector,
    )
    return found, list(callers.values())


def blendshapes_caller(backend: BlendshapeBackend, settings: Settings) -> ModelCaller[np.ndarray]:
    """The one ``ModelCaller`` of the blendshape model, labelled ``blendshapes``: faces of
    every pipeline and request join its batches; closing it closes the model."""
    return ModelCaller(
        backend.scores,
        array_rows,
        model=BLENDSHAPES_MODEL,
        concurrency=settings.inference_concurrency,
        max_batch=settings.batch_max_size,
        max_delay_us=settings.batch_max_delay_us,
        check=lambda points: check_input_batch(points, BLENDSHAPES_SPEC),
        close=backend.close,
        batch_sizes=backend.batch_sizes,
    )


async def load_blendshapes(settings: Settings) -> tuple[Blendshapes | None, list[ModelCaller[Any]]]:
    """The blendshape model with its caller, or None (logged) when it cannot be loaded:
    ``?blendshapes=true`` is then a 422."""
    try:
        backend = await run_in_threadpool(create_blendshapes, settings)
    except BackendUnavailable as exc:
        logger.info("blendshape model not loaded (?blendshapes= refused): %s", exc)
        return None, []
    caller = blendshapes_caller(backend, settings)
    return Blendshapes(caller), [caller]


def frame_pipeline(
    settings: Settings,
    mesh: ModelCaller[ModelOutputs],
    found: Detectors,
    budget: DecodeBudget,
    blendshapes: Blendshapes | None = None,
    pipeline: str = "attention",
) -> FramePipeline:
    """The ``FramePipeline`` of landmark pipeline ``pipeline`` on its model's caller ``mesh``
    and the detectors: FaceMesh's ROI rules (``FrameLandmarks``), or FaceLandmarker's for
    ``landmarker`` (``LandmarkerLandmarks``)."""
    landmarks = FRAME_LANDMARKS.get(pipeline, FrameLandmarks)
    return FramePipeline(
        settings,
        decoder=FrameDecoder(budget),
        detectors=found,
        landmarks=landmarks(mesh, settings.score_threshold),
        blendshapes=blendshapes,
    )


# The frame step of each pipeline whose ROI rules are not FaceMesh's.
FRAME_LANDMARKS: dict[str, type[FrameLandmarks]] = {"landmarker": LandmarkerLandmarks}


@contextmanager
def standalone_frame_pipeline(
    mesh: InferenceBackend, detector: DetectorBackend, settings: Settings
) -> Iterator[FramePipeline]:
    """``with standalone_frame_pipeline(mesh, detector, settings) as frames``: a
    ``FramePipeline`` outside the app (benchmarks, golden writers, tests), its callers and
    decode budget built as ``build_services`` builds them (``detector`` as the default kind);
    the callers, and with them the models, are closed on exit."""
    settings = settings.model_copy(update={"detector": detector.spec.name})
    mesh_calls = mesh_caller(mesh, settings)
    found, callers = detectors({detector.spec.name: detector}, settings)
    try:
        yield frame_pipeline(settings, mesh_calls, found, DecodeBudget.from_settings(settings))
    finally:
        mesh_calls.close()
        for caller in callers:
            caller.close()


async def build_services(
    settings: Settings, backends: dict[str, InferenceBackend] | None = None
) -> Services:
    """Everything the routes need. ``backends`` (pipeline name -> backend) replaces the
    backends ``settings`` would build (tests pass stand-ins for an unreachable model)."""
    given = backends or {}
    # One decoded-memory budget for the whole process: every crop pipeline and the frames.
    decode_budget = DecodeBudget.from_settings(settings)
    # The blendshape model, shared by every pipeline (its own caller: one call per batch of
    # faces from any request).
    blendshapes, callers = await load_blendshapes(settings)
    crops: dict[str, CropPipeline] = {}
    for name in settings.loaded_pipelines:  # the default pipeline first
        backend = given.get(name)
        if backend is None:
            backend = await run_in_threadpool(create_pipeline_backend, settings, name)
        caller = mesh_caller(backend, settings, name)
        callers.append(caller)
        crops[name] = CropPipeline(
            backend,
            settings,
            caller,
            name,
            budget=decode_budget,
            blendshapes=blendshapes,
            input_size=PIPELINE_INPUT_SIZES[name],
        )
    # Every detector kind that can be loaded, the default (Settings.detector) first; without
    # the default, /v1/frame answers 503, without another kind, its ?detector= a 422.
    loaded: dict[str, DetectorBackend] = {}
    for kind in sorted(DETECTORS, key=lambda kind: kind != settings.detector):
        try:
            loaded[kind] = await run_in_threadpool(create_detector, settings, kind)
        except BackendUnavailable as exc:
            if kind == settings.detector:
                logger.warning("face detector unavailable, /v1/frame will answer 503: %s", exc)
            else:
                logger.info("%s-range face detector not loaded (?detector= refused): %s", kind, exc)
    found, detector_callers = detectors(loaded, settings)
    callers.extend(detector_callers)
    # One micro-batching caller (and executor) per model for every endpoint: each frame
    # pipeline's landmark calls join its crop pipeline's batches.
    frames = {
        name: frame_pipeline(
            settings, crop.mesh_caller, found, decode_budget, blendshapes, pipeline=name
        )
        for name, crop in crops.items()
    }
    services = Services(
        settings=settings,
        crops=crops,
        frames=frames[settings.pipeline],
        frame_pipelines=frames,
        detectors=found,
        callers=callers,
        blendshapes=blendshapes,
        sessions=SessionStore(settings.tracking_max_sessions, settings.tracking_session_ttl_s),
        # Created here, inside the serving event loop (asyncio primitives bind to one loop).
        admission=AdmissionController(
            settings.max_in_flight, settings.max_queue, settings.queue_timeout_s
        ),
    )
    # Idle sessions expire on a timer (a quarter of the TTL late at most), not only when
    # their next frame or a new session comes.
    services.session_expiry = asyncio.create_task(
        services.sessions.expire_every(settings.tracking_session_ttl_s / 4)
    )
    if settings.grpc_enabled:
        from service.tracking.grpc_server import FaceTrackingService, start_grpc_server

        tracking = FaceTrackingService(
            services.frames, services.sessions, settings, services.frame_pipelines
        )
        services.grpc_server, services.grpc_port = await start_grpc_server(tracking, settings)
    return services


async def close_services(services: Services, grace_s: float = 5.0) -> None:
    """Stop the gRPC server (letting streams finish for ``grace_s``), then every model's
    caller (and with it the model)."""
    if services.session_expiry is not None:
        services.session_expiry.cancel()
    if services.grpc_server is not None:
        await services.grpc_server.stop(grace_s)
    for caller in services.callers:
        await caller.aclose()
