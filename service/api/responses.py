"""Pipeline results (NumPy, posted-image pixels) -> the JSON body of ``schemas.FacesResponse``.

The body is built as dicts holding rounded NumPy arrays and serialised by orjson, which writes
float arrays straight from their buffers (no per-float Python objects; faster than ``tolist()``
+ pydantic-core's encoder, figures in ``docs/performance.md``), without validating a pydantic
model per request: the values come from arrays of contract-checked shapes, and validating
~2000 floats per face cost more than the rest of the response path.
``schemas.FacesResponse`` stays the documented contract (OpenAPI), and the tests validate real
responses against it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson
from starlette.responses import Response

from service.api import schemas
from service.contract import IRIS_REGIONS, REGION_ORDER
from service.core.config import Settings
from service.pipelines.frames import FrameFace, FrameResult
from service.processing.gaze import EyesGaze, Gaze, GazeRay, crop_gaze
from service.processing.postprocess import FaceResult

# 0.001 px is far below the model's accuracy and keeps the JSON short.
COORD_DECIMALS = 3
AFFINE_DECIMALS = 5
POSE_DECIMALS = 5
GAZE_DECIMALS = 5


def model_info(settings: Settings, backend: str, pipeline: str) -> schemas.ModelInfo:
    """The ``model`` block of every response: the served model, the backend (runtime) that ran
    it and the landmark pipeline."""
    return schemas.ModelInfo(
        name=settings.model_name, version=settings.model_version, backend=backend, pipeline=pipeline
    )


def _rounded(array: np.ndarray, decimals: int) -> np.ndarray:
    """float64, C-contiguous (what orjson serialises), rounded to ``decimals``."""
    return np.ascontiguousarray(np.round(np.asarray(array, dtype=np.float64), decimals))


def encode(body: dict[str, Any]) -> bytes:
    """JSON bytes of a body holding NumPy arrays (NaN/inf become null)."""
    return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)


def face_body(result: FaceResult) -> dict[str, Any]:
    """One ``schemas.Face`` as plain JSON-able data."""
    body: dict[str, Any] = {
        "image": {"width": result.width, "height": result.height},
        "score": result.score,
        "landmarks": None,
        "regions": None,
    }
    if result.landmarks is None or result.regions is None:
        return body
    regions: dict[str, Any] = {}
    for name in REGION_ORDER:
        region = result.regions[name]
        assert region.affine is not None
        regions[name] = {
            "landmarks": _rounded(region.landmarks, COORD_DECIMALS),
            "affine": _rounded(region.affine, AFFINE_DECIMALS),
        }
    for name in IRIS_REGIONS:
        regions[name] = {"landmarks": _rounded(result.regions[name].landmarks, COORD_DECIMALS)}
    body["landmarks"] = _rounded(result.landmarks, COORD_DECIMALS)
    body["regions"] = regions
    return body


def _gaze_ray(ray: GazeRay) -> dict[str, Any]:
    body: dict[str, Any] = {
        "direction": _rounded(ray.direction, GAZE_DECIMALS),
        "yaw": round(ray.yaw, GAZE_DECIMALS),
        "pitch": round(ray.pitch, GAZE_DECIMALS),
    }
    if ray.origin is not None:
        body["eyeball_center"] = _rounded(ray.origin, GAZE_DECIMALS)
    return body


def _eyes(eyes: EyesGaze | None) -> dict[str, Any] | None:
    """``schemas.Gaze`` (camera frame, with eyeball centres) or ``schemas.HeadGaze``."""
    if eyes is None:
        return None
    body = {name: _gaze_ray(getattr(eyes, name)) for name in ("left", "right", "combined")}
    return {
        **body,
        "eyes_angle": round(eyes.eyes_angle, GAZE_DECIMALS),
        "plausible": eyes.plausible,
    }


def _head_gaze(gaze: Gaze | None) -> dict[str, Any] | None:
    return None if gaze is None else _eyes(gaze.head)


def faces_response(results: Sequence[FaceResult], model: schemas.ModelInfo) -> Response:
    """The ``schemas.FacesResponse`` JSON response for ``results`` (each face with its
    head-relative gaze, ``processing.gaze.crop_gaze``)."""
    faces = []
    for result in results:
        body = face_body(result)
        body["head_gaze"] = _head_gaze(crop_gaze(result.landmarks))
        faces.append(body)
    body = {"model": model.model_dump(), "faces": faces}
    return Response(encode(body), media_type="application/json")


def frame_face_body(face: FrameFace) -> dict[str, Any]:
    """One ``schemas.FrameFace``: the crop endpoints' face plus its detection and ROI."""
    body = face_body(face.result)
    detection = face.detection
    body["detection"] = (
        None
        if detection is None
        else {
            "box": _rounded(detection.box, COORD_DECIMALS),
            "score": detection.score,
            "keypoints": _rounded(detection.keypoints, COORD_DECIMALS),
            "quarter_turns": detection.quarter_turns,
        }
    )
    roi = face.roi
    body["roi"] = {
        "center": _rounded(np.array([roi.center_x, roi.center_y]), COORD_DECIMALS),
        "size": round(roi.width, COORD_DECIMALS),
        "rotation": round(roi.rotation, AFFINE_DECIMALS),
    }
    body["face_id"] = face.face_id
    pose = face.pose
    body["pose"] = (
        None
        if pose is None
        else {
            "matrix": _rounded(pose.matrix, POSE_DECIMALS),
            "euler_degrees": {
                "pitch": round(pose.pitch, POSE_DECIMALS),
                "yaw": round(pose.yaw, POSE_DECIMALS),
                "roll": round(pose.roll, POSE_DECIMALS),
            },
        }
    )
    gaze = face.gaze
    body["gaze"] = None if gaze is None else _eyes(gaze.camera)
    body["head_gaze"] = _head_gaze(gaze)
    iris = face.iris_distance
    body["iris_distance"] = (
        None
        if iris is None
        else {"left": round(iris.left, POSE_DECIMALS), "right": round(iris.right, POSE_DECIMALS)}
    )
    return body


def frame_body(frame: FrameResult, model: schemas.ModelInfo) -> dict[str, Any]:
    """``schemas.FrameResponse`` as plain JSON-able data (HTTP and WebSocket)."""
    return {
        "model": model.model_dump(),
        "image": {"width": frame.width, "height": frame.height},
        "faces": [frame_face_body(face) for face in frame.faces],
        "detector_ran": frame.detector_ran,
    }


def frame_response(frame: FrameResult, model: schemas.ModelInfo) -> Response:
    """The ``schemas.FrameResponse`` JSON response for one frame."""
    return Response(encode(frame_body(frame, model)), media_type="application/json")
