"""``/v1/track``: a tracking session over a WebSocket (browsers, the Python client)."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query, WebSocket, WebSocketDisconnect

from service.api.deps import (
    BlendshapesDep,
    FieldsDep,
    FrameModelDep,
    FramePipelineDep,
    SessionsDep,
    SettingsDep,
)
from service.api.guards import WEBSOCKET_PROTOBUF_SUBPROTOCOL, WEBSOCKET_SUBPROTOCOL
from service.api.responses import frame_json, frame_protobuf
from service.api.routes.frames import FOV_DESCRIPTION, MaxFaces, RotationSearch
from service.core.errors import InvalidImage, InvalidParameter, ServiceError, stream_ending
from service.tracking.streams import StreamOptions, frame_error, idle_expiry, open_session
from service.tracking.tracker import track_frame

router = APIRouter(prefix="/v1", tags=["frames"])

Smoothing = Annotated[
    bool | None,
    Query(
        description="Tracking sessions: smooth landmarks over frames (One Euro filter). "
        "Default: FACEMESH_TRACKING_SMOOTHING (on)."
    ),
]
# Checked once for every stream transport by service.tracking.streams.open_session.
StreamFovDegrees = Annotated[float | None, Query(description=FOV_DESCRIPTION)]


@router.websocket("/track")
async def track(
    websocket: WebSocket,
    app_settings: SettingsDep,
    frames: FramePipelineDep,
    store: SessionsDep,
    model: FrameModelDep,
    blendshapes: BlendshapesDep,
    fields: FieldsDep,
    max_faces: MaxFaces = None,
    rotation_search: RotationSearch = None,
    smoothing: Smoothing = None,
    fov_degrees: StreamFovDegrees = None,
) -> None:
    """Tracking session for browsers: send each frame as one binary message (JPEG/PNG/WebP,
    at most ``FACEMESH_MAX_BODY_BYTES``), receive one JSON text message per frame
    (``FrameResponse``, in order). Subprotocol ``facemesh.v1``, selected only when the client
    offers it (RFC 6455; offer ``apikey.<key>`` beside it to authenticate from a browser).
    A bad query (``max_faces=0``, ``fov_degrees`` outside the camera range) or key is refused
    at the handshake with the JSON error body (422, 401). Errors for one frame (a bad image,
    a text message) come back as ``{"error": {"code", "message"}}`` and the session goes on.
    Every slot taken: closed with 1013 once accepted. A session idle for
    ``FACEMESH_TRACKING_SESSION_TTL_S`` is closed (1008). Subprotocol
    ``facemesh.v1.protobuf`` (when offered, it wins): each result is a binary message, the
    tracking proto's ``FrameResult`` (errors stay JSON text messages). ``fields`` limits each
    face as on ``POST /v1/frame``. ``?blendshapes=true``: every face of every frame gets its
    blendshapes."""
    options = StreamOptions(max_faces, rotation_search, smoothing, fov_degrees, model.pipeline)
    offered = websocket.scope.get("subprotocols", [])
    binary = WEBSOCKET_PROTOBUF_SUBPROTOCOL in offered
    subprotocol = (
        WEBSOCKET_PROTOBUF_SUBPROTOCOL
        if binary
        else WEBSOCKET_SUBPROTOCOL
        if WEBSOCKET_SUBPROTOCOL in offered
        else None
    )
    index = 0
    try:
        session = open_session(store, app_settings, options)
    except InvalidParameter:
        raise  # refused at the handshake (service.api.error_handlers: 422 JSON)
    except ServiceError as exc:
        await websocket.accept(subprotocol=subprotocol)
        await websocket.close(code=stream_ending(exc)[0], reason=exc.message[:120])
        return
    try:
        await websocket.accept(subprotocol=subprotocol)
        while True:
            try:
                async with asyncio.timeout(app_settings.tracking_session_ttl_s):
                    message = await websocket.receive()
            except TimeoutError:
                expired = idle_expiry(session)
                reason = f"{expired.message} (idle)"
                await websocket.close(code=stream_ending(expired)[0], reason=reason)
                return
            if message["type"] == "websocket.disconnect":
                return
            payload = message.get("bytes")
            error = frame_error(payload, app_settings.max_body_bytes)
            if error is not None:
                await websocket.send_json({"error": {"code": error.code, "message": error.message}})
                continue
            assert payload is not None
            try:
                result = await track_frame(
                    frames, store, session.session_id, payload, fields, blendshapes=blendshapes
                )
            except InvalidImage as exc:
                await websocket.send_json({"error": {"code": exc.code, "message": exc.message}})
                continue
            except ServiceError as exc:
                await websocket.close(code=stream_ending(exc)[0], reason=exc.message[:120])
                return
            if binary:
                await websocket.send_bytes(frame_protobuf(result, index, fields))
            else:
                await websocket.send_text(frame_json(result, model, fields).decode())
            index += 1
    except WebSocketDisconnect:
        pass
    finally:
        store.close(session.session_id)
