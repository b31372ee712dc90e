"""Tracking over the gateway's gRPC stream ``facemesh.tracking.v1.FaceTracking/Track``
(optional: ``pip install 'facemesh-client[grpc]'``; the server needs ``FACEMESH_GRPC_ENABLED``).

No generated stubs and no protoc: the messages the client uses are described here as a
``FileDescriptorProto`` and built in a private descriptor pool (so they never clash with other
copies of the same proto in the process). The server's ``tracking.proto`` is the source of
truth; the repository's tests check this description against it field by field. Fields a newer
server adds are kept by protobuf as unknown fields and ignored.

Results are the same :class:`~facemesh_client.FrameResult` objects as the WebSocket's, except
what the gRPC message does not carry: ``model`` is empty, and the lips and eye regions have
their ``affine`` but no ``landmarks`` (an empty ``(0, 2)`` array). The irises are
``landmarks[468:473]`` and ``landmarks[473:478]``, as in the HTTP API.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, overload

import grpc
import numpy as np
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from facemesh_client import errors
from facemesh_client.images import ImageFormat, ImageInput, to_upload
from facemesh_client.results import BLENDSHAPE_NAMES, FrameResult

PACKAGE = "facemesh.tracking.v1"
TRACK_METHOD = f"/{PACKAGE}.FaceTracking/Track"

_F = descriptor_pb2.FieldDescriptorProto
# message -> (field, number, type, repeated, message type name or "")
_MESSAGES: dict[str, list[tuple[str, int, int, bool, str]]] = {
    "Frame": [
        ("image", 1, _F.TYPE_BYTES, False, ""),
        ("max_faces", 2, _F.TYPE_UINT32, False, ""),
        ("rotation_search", 3, _F.TYPE_BOOL, False, ""),  # proto3 optional
        ("model", 6, _F.TYPE_STRING, False, ""),
        ("blendshapes", 7, _F.TYPE_BOOL, False, ""),  # proto3 optional
    ],
    "Roi": [
        ("center_x", 1, _F.TYPE_FLOAT, False, ""),
        ("center_y", 2, _F.TYPE_FLOAT, False, ""),
        ("size", 3, _F.TYPE_FLOAT, False, ""),
        ("rotation", 4, _F.TYPE_FLOAT, False, ""),
    ],
    "Detection": [
        ("xmin", 1, _F.TYPE_FLOAT, False, ""),
        ("ymin", 2, _F.TYPE_FLOAT, False, ""),
        ("width", 3, _F.TYPE_FLOAT, False, ""),
        ("height", 4, _F.TYPE_FLOAT, False, ""),
        ("score", 5, _F.TYPE_FLOAT, False, ""),
        ("keypoints", 6, _F.TYPE_FLOAT, True, ""),
        ("quarter_turns", 7, _F.TYPE_UINT32, False, ""),
    ],
    "GazeRay": [
        ("direction", 1, _F.TYPE_FLOAT, True, ""),
        ("yaw", 2, _F.TYPE_FLOAT, False, ""),
        ("pitch", 3, _F.TYPE_FLOAT, False, ""),
        ("eyeball_center", 4, _F.TYPE_FLOAT, True, ""),
    ],
    "Gaze": [
        ("left", 1, _F.TYPE_MESSAGE, False, "GazeRay"),
        ("right", 2, _F.TYPE_MESSAGE, False, "GazeRay"),
        ("combined", 3, _F.TYPE_MESSAGE, False, "GazeRay"),
    ],
    "IrisDistance": [
        ("left", 1, _F.TYPE_FLOAT, False, ""),
        ("right", 2, _F.TYPE_FLOAT, False, ""),
    ],
    "Face": [
        ("score", 1, _F.TYPE_FLOAT, False, ""),
        ("landmarks", 2, _F.TYPE_FLOAT, True, ""),
        ("lips_affine", 3, _F.TYPE_FLOAT, True, ""),
        ("left_eye_affine", 4, _F.TYPE_FLOAT, True, ""),
        ("right_eye_affine", 5, _F.TYPE_FLOAT, True, ""),
        ("roi", 6, _F.TYPE_MESSAGE, False, "Roi"),
        ("detection", 7, _F.TYPE_MESSAGE, False, "Detection"),
        ("gaze", 10, _F.TYPE_MESSAGE, False, "Gaze"),
        ("head_gaze", 11, _F.TYPE_MESSAGE, False, "Gaze"),
        ("iris_distance", 12, _F.TYPE_MESSAGE, False, "IrisDistance"),
        ("blendshapes", 13, _F.TYPE_FLOAT, True, ""),
    ],
    "Error": [
        ("code", 1, _F.TYPE_STRING, False, ""),
        ("message", 2, _F.TYPE_STRING, False, ""),
    ],
    "FrameResult": [
        ("frame_index", 1, _F.TYPE_UINT64, False, ""),
        ("width", 2, _F.TYPE_UINT32, False, ""),
        ("height", 3, _F.TYPE_UINT32, False, ""),
        ("faces", 4, _F.TYPE_MESSAGE, True, "Face"),
        ("detector_ran", 5, _F.TYPE_BOOL, False, ""),
        ("error", 6, _F.TYPE_MESSAGE, False, "Error"),
    ],
}
_PROTO3_OPTIONAL = {("Frame", "rotation_search"), ("Frame", "blendshapes")}


def file_descriptor() -> descriptor_pb2.FileDescriptorProto:
    """The subset of ``tracking.proto`` this client speaks, as a descriptor."""
    proto = descriptor_pb2.FileDescriptorProto(
        name="facemesh_client/tracking.proto", package=PACKAGE, syntax="proto3"
    )
    for name, fields in _MESSAGES.items():
        message = proto.message_type.add(name=name)
        for field_name, number, kind, repeated, type_name in fields:
            field = message.field.add(
                name=field_name,
                number=number,
                type=kind,
                label=_F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL,
            )
            if type_name:
                field.type_name = f".{PACKAGE}.{type_name}"
            if (name, field_name) in _PROTO3_OPTIONAL:
                field.proto3_optional = True
                field.oneof_index = len(message.oneof_decl)
                message.oneof_decl.add(name=f"_{field_name}")
    return proto


def _message_classes() -> dict[str, Any]:
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(file_descriptor().SerializeToString())
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{PACKAGE}.{name}"))
        for name in _MESSAGES
    }


_CLASSES = _message_classes()
FrameMessage = _CLASSES["Frame"]
FrameResultMessage = _CLASSES["FrameResult"]

_END = object()


@dataclass(frozen=True)
class _StreamOptions:
    max_faces: int | None
    rotation_search: bool | None
    model: str | None
    blendshapes: bool | None


def _affine(values: Any) -> np.ndarray | None:
    array = np.asarray(values, dtype=np.float64)
    return array.reshape(2, 3) if array.size == 6 else None


def _gaze_body(gaze: Any) -> dict[str, Any]:
    def ray(message: Any) -> dict[str, Any]:
        centre = np.asarray(message.eyeball_center, dtype=np.float64)
        return {
            "direction": np.asarray(message.direction, dtype=np.float64),
            "yaw": message.yaw,
            "pitch": message.pitch,
            "eyeball_center": centre if centre.size else None,
        }

    return {name: ray(getattr(gaze, name)) for name in ("left", "right", "combined")}


def _face_body(face: Any, width: int, height: int) -> dict[str, Any]:
    landmarks = np.asarray(face.landmarks, dtype=np.float64)
    body: dict[str, Any] = {
        "image": {"width": width, "height": height},
        "score": face.score,
        "landmarks": None,
        "regions": None,
        "roi": {
            "center": [face.roi.center_x, face.roi.center_y],
            "size": face.roi.size,
            "rotation": face.roi.rotation,
        },
        "detection": None,
    }
    if landmarks.size:
        landmarks = landmarks.reshape(-1, 3)
        body["landmarks"] = landmarks
        empty = np.zeros((0, 2))
        body["regions"] = {
            "lips": {"landmarks": empty, "affine": _affine(face.lips_affine)},
            "left_eye": {"landmarks": empty, "affine": _affine(face.left_eye_affine)},
            "right_eye": {"landmarks": empty, "affine": _affine(face.right_eye_affine)},
            "left_iris": {"landmarks": landmarks[468:473, :2]},
            "right_iris": {"landmarks": landmarks[473:478, :2]},
        }
    if face.HasField("detection"):
        detection = face.detection
        body["detection"] = {
            "box": [detection.xmin, detection.ymin, detection.width, detection.height],
            "score": detection.score,
            "keypoints": np.asarray(detection.keypoints, dtype=np.float64).reshape(-1, 2),
            "quarter_turns": detection.quarter_turns,
        }
    for name in ("gaze", "head_gaze"):
        if face.HasField(name):
            body[name] = _gaze_body(getattr(face, name))
    if face.HasField("iris_distance"):
        body["iris_distance"] = {
            "left": face.iris_distance.left,
            "right": face.iris_distance.right,
        }
    if face.blendshapes:  # 52 floats in BLENDSHAPE_NAMES order
        body["blendshapes"] = dict(zip(BLENDSHAPE_NAMES, face.blendshapes, strict=True))
    return body


def frame_result(message: Any) -> FrameResult | errors.FacemeshError:
    """A ``FrameResult`` message -> the client's result, or the frame's error."""
    if message.error.code:
        body = {"error": {"code": message.error.code, "message": message.error.message}}
        return errors.error_from_body(body)
    width, height = int(message.width), int(message.height)
    return FrameResult.parse(
        {
            "model": {},
            "image": {"width": width, "height": height},
            "faces": [_face_body(face, width, height) for face in message.faces],
            "detector_ran": message.detector_ran,
            "frame_index": message.frame_index,
        }
    )


def _rpc_error(exc: grpc.RpcError) -> errors.FacemeshError:
    status = exc.code() if isinstance(exc, grpc.Call) else None
    name = status.name if status is not None else "UNKNOWN"
    message = exc.details() if isinstance(exc, grpc.Call) else str(exc)
    if name == "UNAUTHENTICATED":
        return errors.Unauthorized(message or "unauthenticated")
    return errors.SessionClosed(
        f"the server ended the tracking stream ({name}: {message})",
        close_code=None,
        grpc_status=name,
    )


class GrpcTracker:
    """Tracking sessions on the gRPC stream; one channel, closed with the tracker::

        with GrpcTracker("localhost:50051", api_key="...") as tracker:
            for result in tracker.track(frames):
                ...

    ``secure=True`` uses TLS with the system's roots (or pass ``credentials``).
    """

    def __init__(
        self,
        target: str,
        api_key: str | None = None,
        *,
        secure: bool = False,
        credentials: grpc.ChannelCredentials | None = None,
        timeout: float | None = None,
        image_format: ImageFormat = "png",
        jpeg_quality: int = 90,
    ) -> None:
        if secure or credentials is not None:
            self._channel = grpc.secure_channel(
                target, credentials or grpc.ssl_channel_credentials()
            )
        else:
            self._channel = grpc.insecure_channel(target)
        self._call = self._channel.stream_stream(
            TRACK_METHOD,
            request_serializer=FrameMessage.SerializeToString,
            response_deserializer=FrameResultMessage.FromString,
        )
        self._metadata = [("x-api-key", api_key)] if api_key is not None else []
        self.timeout = timeout
        self.image_format: ImageFormat = image_format
        self.jpeg_quality = jpeg_quality

    def __enter__(self) -> GrpcTracker:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._channel.close()

    @overload
    def track(
        self,
        frames: Iterable[ImageInput],
        max_faces: int | None = ...,
        *,
        rotation_search: bool | None = ...,
        model: str | None = ...,
        blendshapes: bool | None = ...,
        return_errors: Literal[False] = ...,
    ) -> Generator[FrameResult, None, None]: ...

    @overload
    def track(
        self,
        frames: Iterable[ImageInput],
        max_faces: int | None = ...,
        *,
        rotation_search: bool | None = ...,
        model: str | None = ...,
        blendshapes: bool | None = ...,
        return_errors: Literal[True],
    ) -> Generator[FrameResult | errors.FacemeshError, None, None]: ...

    def track(
        self,
        frames: Iterable[ImageInput],
        max_faces: int | None = None,
        *,
        rotation_search: bool | None = None,
        model: str | None = None,
        blendshapes: bool | None = None,
        return_errors: bool = False,
    ) -> (
        Generator[FrameResult, None, None]
        | Generator[FrameResult | errors.FacemeshError, None, None]
    ):
        """One tracking stream, as :meth:`facemesh_client.Client.track`: one result per frame,
        in order, one frame in flight; ``return_errors`` yields a frame's error in its place
        instead of raising it (which ends the stream). ``model`` picks the stream's landmark
        pipeline (sent on the first frame), ``blendshapes`` asks for every frame's
        blendshapes."""
        options = _StreamOptions(max_faces, rotation_search, model, blendshapes)
        return self._stream(iter(frames), options, return_errors)

    def _stream(
        self,
        frames: Iterator[ImageInput],
        options: _StreamOptions,
        return_errors: bool,
    ) -> Generator[FrameResult | errors.FacemeshError, None, None]:
        outbox: queue.Queue[Any] = queue.Queue(maxsize=1)
        done = threading.Event()

        def requests() -> Iterator[Any]:
            first = True
            while True:
                try:
                    item = outbox.get(timeout=0.2)
                except queue.Empty:
                    if done.is_set():  # abandoned: end grpc's request thread too
                        return
                    continue
                if item is _END:
                    return
                if first:  # the server reads the session's options on the first frame
                    item.max_faces = options.max_faces or 0
                    if options.rotation_search is not None:
                        item.rotation_search = options.rotation_search
                    if options.model is not None:
                        item.model = options.model
                    first = False
                if options.blendshapes is not None:  # read on every frame
                    item.blendshapes = options.blendshapes
                yield item

        responses = self._call(requests(), metadata=self._metadata, timeout=self.timeout)
        finished = False
        try:
            for frame in frames:
                upload = to_upload(frame, self.image_format, self.jpeg_quality)
                outbox.put(FrameMessage(image=upload.data))
                try:
                    message = next(responses)
                except grpc.RpcError as exc:
                    raise _rpc_error(exc) from None
                except StopIteration:
                    raise errors.SessionClosed(
                        "the server ended the tracking stream early", close_code=None
                    ) from None
                item = frame_result(message)
                if isinstance(item, errors.FacemeshError) and not return_errors:
                    raise item
                yield item
            outbox.put(_END)  # half-close: the server then ends the stream
            finished = True
        finally:
            done.set()
            if not finished:
                responses.cancel()
