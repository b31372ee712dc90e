"""Pipeline results -> the JSON bodies of ``FacesResponse`` and ``FrameResponse``.

The body is built as dicts holding rounded NumPy arrays and serialised by orjson, which writes
float arrays straight from their buffers (no per-float Python objects; faster than ``tolist()``
+ pydantic-core's encoder, figures in ``docs/performance.md``), without validating a pydantic
model per request: the values come from arrays of contract-checked shapes, and validating
~2000 floats per face cost more than the rest of the response path. The pydantic schemas
(``service.api.schemas``) stay the documented contract (OpenAPI), and the tests validate real
responses against them. ``model`` is the response's ``model`` block, already plain data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import orjson

from service.contract import BLENDSHAPE_NAMES, IRIS_REGIONS, REGION_ORDER
from service.encoders.rounding import (
    AFFINE_DECIMALS,
    BLENDSHAPE_DECIMALS,
    COORD_DECIMALS,
    GAZE_DECIMALS,
    POSE_DECIMALS,
    rounded,
    rounded_float,
)
from service.pipelines.results import CropFace, Fields, FrameFace, FrameResult, wants
from service.processing.gaze import EyesGaze, Gaze, GazeRay
from service.processing.postprocess import FaceResult


def encode(body: Mapping[str, Any]) -> bytes:
    """JSON bytes of a body holding NumPy arrays (NaN/inf become null)."""
    return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)


def face_body(result: FaceResult) -> dict[str, Any]:
    """One ``schemas.Face`` (without its gaze) as plain JSON-able data."""
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
        regions[name] = {
            "landmarks": rounded(region.landmarks, COORD_DECIMALS),
            # None: a pipeline without region affines (the landmarker)
            "affine": None if region.affine is None else rounded(region.affine, AFFINE_DECIMALS),
        }
    for name in IRIS_REGIONS:
        regions[name] = {"landmarks": rounded(result.regions[name].landmarks, COORD_DECIMALS)}
    body["landmarks"] = rounded(result.landmarks, COORD_DECIMALS)
    body["regions"] = regions
    return body


def blendshapes_body(scores: np.ndarray | None) -> dict[str, float] | None:
    """``{category name: score}`` in the model's order (``BLENDSHAPE_NAMES``), or None."""
    if scores is None:
        return None
    values = np.round(np.asarray(scores, dtype=np.float64), BLENDSHAPE_DECIMALS).tolist()
    return dict(zip(BLENDSHAPE_NAMES, values, strict=True))


def _gaze_ray(ray: GazeRay) -> dict[str, Any]:
    body: dict[str, Any] = {
        "direction": rounded(ray.direction, GAZE_DECIMALS),
        "yaw": rounded_float(ray.yaw, GAZE_DECIMALS),
        "pitch": rounded_float(ray.pitch, GAZE_DECIMALS),
    }
    if ray.origin is not None:
        body["eyeball_center"] = rounded(ray.origin, GAZE_DECIMALS)
    return body


def _eyes(eyes: EyesGaze | None) -> dict[str, Any] | None:
    """``schemas.Gaze`` (camera frame, with eyeball centres) or ``schemas.HeadGaze``."""
    if eyes is None:
        return None
    body = {name: _gaze_ray(getattr(eyes, name)) for name in ("left", "right", "combined")}
    return {
        **body,
        "eyes_angle": rounded_float(eyes.eyes_angle, GAZE_DECIMALS),
        "plausible": eyes.plausible,
    }


def _head_gaze(gaze: Gaze | None) -> dict[str, Any] | None:
    return None if gaze is None else _eyes(gaze.head)


def faces_body(faces: Sequence[CropFace], model: Mapping[str, Any]) -> dict[str, Any]:
    """``schemas.FacesResponse``: each crop's face with its head-relative gaze."""
    bodies = []
    for face in faces:
        body = face_body(face.result)
        body["head_gaze"] = _head_gaze(face.gaze)
        body["blendshapes"] = blendshapes_body(face.blendshapes)
        bodies.append(body)
    return {"model": dict(model), "faces": bodies}


def frame_face_body(face: FrameFace, fields: Fields | None = None) -> dict[str, Any]:
    """One ``schemas.FrameFace``: the crop endpoints' face plus its detection and ROI;
    limited to ``fields`` (``results.FACE_FIELDS``; None: every part), the face has only
    those keys besides ``image``, ``score`` and ``face_id``."""
    if wants(fields, "landmarks", "regions"):
        body = face_body(face.result)
        for name in ("landmarks", "regions"):
            if not wants(fields, name):
                del body[name]
    else:
        result = face.result
        body = {"image": {"width": result.width, "height": result.height}, "score": result.score}
    detection = face.detection
    if wants(fields, "detection"):
        body["detection"] = (
            None
            if detection is None
            else {
                "box": rounded(detection.box, COORD_DECIMALS),
                "score": detection.score,
                "keypoints": rounded(detection.keypoints, COORD_DECIMALS),
                "quarter_turns": detection.quarter_turns,
            }
        )
    roi = face.roi
    if wants(fields, "roi"):
        body["roi"] = {
            "center": rounded(np.array([roi.center_x, roi.center_y]), COORD_DECIMALS),
            "size": rounded_float(roi.width, COORD_DECIMALS),
            "rotation": rounded_float(roi.rotation, AFFINE_DECIMALS),
        }
    body["face_id"] = face.face_id
    pose = face.pose
    if wants(fields, "pose"):
        body["pose"] = (
            None
            if pose is None
            else {
                "matrix": rounded(pose.matrix, POSE_DECIMALS),
                "euler_degrees": {
                    "pitch": rounded_float(pose.pitch, POSE_DECIMALS),
                    "yaw": rounded_float(pose.yaw, POSE_DECIMALS),
                    "roll": rounded_float(pose.roll, POSE_DECIMALS),
                },
            }
        )
    gaze = face.gaze
    if wants(fields, "gaze"):
        body["gaze"] = None if gaze is None else _eyes(gaze.camera)
        body["head_gaze"] = _head_gaze(gaze)
    iris = face.iris_distance
    if wants(fields, "iris_distance"):
        body["iris_distance"] = (
            None
            if iris is None
            else {
                "left": rounded_float(iris.left, POSE_DECIMALS),
                "right": rounded_float(iris.right, POSE_DECIMALS),
            }
        )
    if fields is None or face.blendshapes is not None:  # asked for: always shown
        body["blendshapes"] = blendshapes_body(face.blendshapes)
    return body


def frame_body(
    frame: FrameResult, model: Mapping[str, Any], fields: Fields | None = None
) -> dict[str, Any]:
    """``schemas.FrameResponse`` as plain JSON-able data (HTTP and WebSocket); each face
    limited to ``fields`` (None: every part)."""
    return {
        "model": dict(model),
        "image": {"width": frame.width, "height": frame.height},
        "faces": [frame_face_body(face, fields) for face in frame.faces],
        "detector_ran": frame.detector_ran,
    }
