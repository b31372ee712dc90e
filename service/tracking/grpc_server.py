"""The ``FaceTracking.Track`` bidirectional stream on a ``grpc.aio`` server.

Runs in the gateway's event loop, next to the HTTP API, sharing its frame pipeline and
session store; the session opens on the first frame (``service.tracking.streams``, as the
WebSocket's does). The stream's life, from the server's side:

* until its first frame a stream holds no session, but it must send that frame within
  ``tracking_first_frame_timeout_s`` (else ``DEADLINE_EXCEEDED``), and at most
  ``tracking_max_sessions`` streams wait for one at once (past it: ``RESOURCE_EXHAUSTED``);
* a session idle for ``tracking_session_ttl_s`` ends its stream with ``ABORTED`` at once,
  not at its next frame;
* RESOURCE_EXHAUSTED when every session slot is taken, UNAVAILABLE when a model cannot run,
  UNAUTHENTICATED without a valid key, INVALID_ARGUMENT for a first frame's ``fov_degrees``
  outside the camera range or a message that is not a ``Frame`` (logged at INFO, no
  traceback);
* an unusable frame (bad bytes, an image over ``FACEMESH_MAX_BODY_BYTES``) does not end
  the stream: its result carries ``error`` and no faces. A message larger than
  ``FACEMESH_MAX_BODY_BYTES`` plus ``MESSAGE_ENVELOPE_BYTES`` (the other fields' room) is
  refused by grpcio itself and ends the stream with RESOURCE_EXHAUSTED.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Mapping
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from service.core.auth import AmbiguousKey, configured_keys, keys_match, presented_key
from service.core.config import Settings
from service.core.errors import (
    FirstFrameTimeout,
    InvalidImage,
    InvalidParameter,
    ServiceError,
    TooManySessions,
    stream_ending,
)
from service.encoders.protobuf import result_message
from service.pipelines.frames import FramePipeline
from service.tracking import tracking_pb2
from service.tracking.sessions import SessionStore, TrackingSession
from service.tracking.streams import (
    StreamOptions,
    frame_error,
    idle_expiry,
    open_session,
)
from service.tracking.tracker import track_frame

logger = logging.getLogger(__name__)

SERVICE_NAME = "facemesh.tracking.v1.FaceTracking"
# Room for a Frame's fields besides the image (max_faces, flags, fov: a few bytes; generous).
MESSAGE_ENVELOPE_BYTES = 64 * 1024


class UndecodableFrame:
    """What the request deserializer yields for bytes that are not a ``Frame`` message
    (grpcio would otherwise log the DecodeError with a traceback and answer UNKNOWN)."""


UNDECODABLE = UndecodableFrame()


def parse_frame(data: bytes) -> tracking_pb2.Frame | UndecodableFrame:
    frame = tracking_pb2.Frame()
    try:
        frame.ParseFromString(data)
    except DecodeError:
        return UNDECODABLE
    return frame


class FaceTrackingService:
    """The ``FaceTracking`` servicer: opens one session per stream, closes it when the stream
    ends. Everything it needs to know comes from ``settings``."""

    def __init__(
        self,
        frames: FramePipeline,
        store: SessionStore,
        settings: Settings,
        pipelines: Mapping[str, FramePipeline] | None = None,
    ) -> None:
        self._settings = settings
        self._frames = frames
        # Every loaded pipeline's frame pipeline, for Frame.model (default: ``frames`` only).
        self._pipelines = dict(pipelines or {settings.pipeline: frames})
        self._store = store
        self._api_keys = configured_keys(settings)
        self._waiting = 0  # streams that have not sent their first frame yet

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
        request_iterator: AsyncIterator[tracking_pb2.Frame | UndecodableFrame],
        context: grpc.aio.ServicerContext[tracking_pb2.Frame, tracking_pb2.FrameResult],
    ) -> AsyncIterator[tracking_pb2.FrameResult]:
        refused = self._authorized(context)
        if refused is not None:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, refused)
        messages = aiter(request_iterator)
        frame = await self._first_frame(messages, context)
        if frame is None:
            return  # the client ended the stream without a frame
        frames = await self._pipeline(frame.model, context)
        session = await self._open(frame, context)
        try:
            index = 0
            while frame is not None:
                yield await self._answer(index, frame, session, context, frames)
                index += 1
                frame = await self._next_frame(
                    messages, context, self._settings.tracking_session_ttl_s, session
                )
        finally:
            self._store.close(session.session_id)

    async def _first_frame(
        self,
        messages: AsyncIterator[tracking_pb2.Frame | UndecodableFrame],
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> tracking_pb2.Frame | None:
        """The stream's first frame, awaited as one of at most ``tracking_max_sessions``
        waiting streams, for at most ``tracking_first_frame_timeout_s``."""
        if self._waiting >= self._settings.tracking_max_sessions:
            await _abort(context, TooManySessions(self._settings.tracking_max_sessions))
        self._waiting += 1
        try:
            return await self._next_frame(
                messages, context, self._settings.tracking_first_frame_timeout_s
            )
        finally:
            self._waiting -= 1

    async def _next_frame(
        self,
        messages: AsyncIterator[tracking_pb2.Frame | UndecodableFrame],
        context: grpc.aio.ServicerContext[Any, Any],
        timeout_s: float,
        session: TrackingSession | None = None,
    ) -> tracking_pb2.Frame | None:
        """The next frame within ``timeout_s`` (None: the client closed its side). Past the
        timeout the stream ends: ``ABORTED`` for an idle session, ``DEADLINE_EXCEEDED``
        before the first frame."""
        try:
            async with asyncio.timeout(timeout_s):
                message = await anext(messages)
        except StopAsyncIteration:
            return None
        except TimeoutError:
            ending = FirstFrameTimeout(timeout_s) if session is None else idle_expiry(session)
            logger.info("gRPC Track from %s ended: %s", context.peer(), ending.message)
            await _abort(context, ending)
        if isinstance(message, UndecodableFrame):
            logger.info("gRPC Track from %s: a message that is not a Frame", context.peer())
            await _abort(context, InvalidParameter("the message is not a Frame protobuf"))
        assert isinstance(message, tracking_pb2.Frame)
        return message

    async def _pipeline(
        self, model: str, context: grpc.aio.ServicerContext[Any, Any]
    ) -> FramePipeline:
        """The frame pipeline the first frame's ``model`` names (empty: the default);
        ``INVALID_ARGUMENT`` for one that is not loaded."""
        if not model:
            return self._frames
        found = self._pipelines.get(model)
        if found is None:
            loaded = ", ".join(self._pipelines)
            await _abort(
                context,
                InvalidParameter(f"model: pipeline {model!r} is not loaded; loaded: {loaded}"),
            )
            raise AssertionError("not reached: abort raises")
        return found

    async def _open(
        self, frame: tracking_pb2.Frame, context: grpc.aio.ServicerContext[Any, Any]
    ) -> TrackingSession:
        """The session, with the first frame's options (``service.tracking.streams``)."""
        options = StreamOptions(
            max_faces=frame.max_faces or None,
            rotation_search=frame.rotation_search if frame.HasField("rotation_search") else None,
            smoothing=frame.smoothing if frame.HasField("smoothing") else None,
            fov_degrees=frame.fov_degrees if frame.HasField("fov_degrees") else None,
            pipeline=frame.model or None,
        )
        try:
            return open_session(self._store, self._settings, options)
        except ServiceError as exc:
            await _abort(context, exc)
            raise  # not reached: abort raises

    async def _answer(
        self,
        index: int,
        frame: tracking_pb2.Frame,
        session: TrackingSession,
        context: grpc.aio.ServicerContext[Any, Any],
        frames: FramePipeline,
    ) -> tracking_pb2.FrameResult:
        """The frame's result; an unusable frame's carries ``error`` (the stream goes on)."""
        error = frame_error(frame.image, self._settings.max_body_bytes)
        blendshapes = frame.blendshapes if frame.HasField("blendshapes") else False
        try:
            if error is not None:
                raise error
            result = await track_frame(
                frames, self._store, session.session_id, frame.image, blendshapes=blendshapes
            )
        except InvalidImage as exc:
            return tracking_pb2.FrameResult(
                frame_index=index,
                error=tracking_pb2.Error(code=exc.code, message=exc.message),
            )
        except ServiceError as exc:
            await _abort(context, exc)
            raise  # not reached: abort raises
        return result_message(index, result)


def _text(value: str | bytes | None) -> str | None:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


async def _abort(context: grpc.aio.ServicerContext[Any, Any], exc: ServiceError) -> None:
    """End the stream with the status ``service.core.errors.STREAM_ENDINGS`` maps ``exc`` to."""
    _, status = stream_ending(exc)
    await context.abort(grpc.StatusCode[status], exc.message)


def _method_handlers(service: FaceTrackingService) -> grpc.GenericRpcHandler:
    """The ``Track`` handler with ``parse_frame`` as its deserializer (the generated
    ``add_FaceTrackingServicer_to_server`` uses ``Frame.FromString``, which raises)."""
    handler = grpc.stream_stream_rpc_method_handler(
        service.Track,
        request_deserializer=parse_frame,
        response_serializer=tracking_pb2.FrameResult.SerializeToString,
    )
    return grpc.method_handlers_generic_handler(SERVICE_NAME, {"Track": handler})


async def start_grpc_server(
    service: FaceTrackingService, settings: Settings
) -> tuple[grpc.aio.Server, int]:
    """Start the server on ``settings.host:grpc_port`` (0: a free port); returns it and the
    bound port. Messages may be as large as ``max_body_bytes`` plus the envelope.

    The port is bound exclusively (grpcio's default, ``SO_REUSEPORT``, let a second gateway
    on the same port start silently and take a share of new channels): a port in use fails
    start-up with ``GrpcPortInUseError``. Only the workers of one gateway (``workers`` > 1) share
    it, once ``python -m service`` has checked it is free (``check_grpc_port_free``)."""
    limit = settings.max_body_bytes + MESSAGE_ENVELOPE_BYTES
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", limit),
            ("grpc.so_reuseport", int(settings.workers > 1)),
        ],
    )
    server.add_generic_rpc_handlers((_method_handlers(service),))
    address = f"{settings.host}:{settings.grpc_port}"
    try:
        bound = server.add_insecure_port(address)  # grpcio: 0 or RuntimeError on failure
    except RuntimeError:
        bound = 0
    if bound == 0:
        error = GrpcPortInUseError(address)
        logger.error("%s", error)  # one clear line before the start-up traceback
        raise error
    await server.start()
    logger.info("gRPC tracking stream on %s:%d", settings.host, bound)
    return server, bound


class GrpcPortInUseError(RuntimeError):
    """The gRPC address cannot be bound: another process (another gateway?) holds it."""

    def __init__(self, address: str) -> None:
        super().__init__(
            f"cannot bind the gRPC server to {address}: the address is in use (another "
            "gateway?) or not allowed; stop that process or set FACEMESH_GRPC_PORT"
        )


def check_grpc_port_free(settings: Settings) -> None:
    """Raise ``GrpcPortInUseError`` unless ``settings.host:grpc_port`` can be bound exclusively
    now: what ``python -m service`` checks before its workers share the port."""
    if settings.grpc_port == 0:
        return
    try:
        infos = socket.getaddrinfo(
            settings.host, settings.grpc_port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
        family, kind, proto, _, sockaddr = infos[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as grpcio does
            probe.bind(sockaddr)
    except OSError as exc:
        raise GrpcPortInUseError(f"{settings.host}:{settings.grpc_port}") from exc
