"""Response-body checks shared by every locustfile.

A load test that only counts HTTP 200s rewards a fast wrong answer. Every body is checked
here: the JSON shape of the gateway's face object (``service/api/schemas.py``: 478 landmarks
as finite [x, y, z], region landmarks and affines, score, the echoed image size) and, where
the crop has a MediaPipe golden, that the landmarks land near it. Each check returns ``None``
when the body is good and a short reason otherwise; the locustfiles mark the request failed
with that reason.

Pure functions over decoded JSON, no locust import, so ``tests/loadtests`` can test them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

N_LANDMARKS = 478
# Region name -> number of 2-D landmarks in the response (the FacesResponse schema).
REGION_POINTS = {"lips": 80, "left_eye": 71, "right_eye": 71, "left_iris": 5, "right_iris": 5}
REGIONS_WITH_AFFINE = ("lips", "left_eye", "right_eye")

# Default bound on the mean 2-D distance to the golden, as a fraction of the image width.
# Payloads carry their own (``payloads.FACE_VARIANTS``): lossless crops land within 0.1%,
# re-encoded and resized ones within 0.5-2.4% (measured on every crop in the mix). For scale:
# two different crops' goldens are 2-17% apart (median 8.4%), so an answer for the wrong face,
# a constant "average face" or a transposed/mis-scaled result fails on most of the mix.
GOLDEN_TOLERANCE = 0.01


@dataclass(frozen=True)
class Expected:
    """What a crop's face must look like. ``golden``: 478 x [x, y] normalised to the image
    (MediaPipe), or ``None`` when there is no golden (non-face or low-score crops: there the
    landmarks may be ``null``)."""

    width: int
    height: int
    golden: np.ndarray | Sequence[Sequence[float]] | None = None
    tolerance: float = GOLDEN_TOLERANCE


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_points(points: Any, count: int, dims: int, what: str) -> str | None:
    # numpy keeps this cheap (the load generator shares the CPU with the server): a list of
    # equal-length number lists becomes a float/int array; strings, nulls or ragged rows
    # give another dtype or shape.
    if not isinstance(points, list) or len(points) != count:
        got = len(points) if isinstance(points, list) else type(points).__name__
        return f"{what}: want {count} points, got {got}"
    try:
        array = np.asarray(points)
    except ValueError:
        return f"{what}: points of different lengths"
    if array.shape != (count, dims):
        return f"{what}: want {count} x {dims} numbers, got shape {array.shape}"
    if array.dtype.kind not in "fi":
        return f"{what}: coordinates are not numbers ({array.dtype})"
    if not np.isfinite(array).all():
        return f"{what}: non-finite coordinate"
    return None


def check_face(face: Any, expected: Expected) -> str | None:
    """Check one item of ``faces`` against what its crop must give."""
    if not isinstance(face, dict):
        return "face is not an object"
    image = face.get("image")
    if not isinstance(image, dict):
        return "image {width, height} missing"
    if (image.get("width"), image.get("height")) != (expected.width, expected.height):
        got = (image.get("width"), image.get("height"))
        return f"image size {got} != posted {(expected.width, expected.height)}"
    score = face.get("score")
    if not _finite(score) or not 0.0 <= score <= 1.0:
        return f"score {score!r} is not a finite number in [0, 1]"
    landmarks = face.get("landmarks")
    if landmarks is None:
        if expected.golden is not None:
            return f"landmarks null (score {score:.3f}) on a crop with a face"
        return None
    problem = _check_points(landmarks, N_LANDMARKS, 3, "landmarks")
    if problem:
        return problem
    regions = face.get("regions")
    if not isinstance(regions, dict):
        return "regions missing"
    for name, count in REGION_POINTS.items():
        region = regions.get(name)
        if not isinstance(region, dict):
            return f"regions.{name} missing"
        problem = _check_points(region.get("landmarks"), count, 2, f"regions.{name}.landmarks")
        if problem:
            return problem
        if name in REGIONS_WITH_AFFINE:
            problem = _check_points(region.get("affine"), 2, 3, f"regions.{name}.affine")
            if problem:
                return problem
    if expected.golden is not None:
        error = mean_golden_error(landmarks, expected)
        if not error <= expected.tolerance:
            return (
                f"landmarks off the golden by {error:.2%} of the width (> {expected.tolerance:.1%})"
            )
    return None


def mean_golden_error(landmarks: Sequence[Sequence[float]], expected: Expected) -> float:
    """Mean 2-D distance between landmarks (image pixels) and the golden, / image width."""
    assert expected.golden is not None
    got = np.asarray(landmarks, dtype=np.float64)[:, :2]
    golden = np.asarray(expected.golden, dtype=np.float64)[:, :2]
    scale = np.array([expected.width, expected.height], dtype=np.float64)
    distances = np.linalg.norm(got - golden * scale, axis=1)
    return float(distances.mean() / expected.width)


def check_faces_body(body: Any, expected: Sequence[Expected]) -> str | None:
    """Check a ``/v1/crop`` (one expected item) or ``/v1/crops`` (one per posted image) body:
    one ``faces`` item per crop, in posting order, and the ``model`` that answered."""
    if not isinstance(body, dict):
        return "body is not a JSON object"
    faces = body.get("faces")
    if not isinstance(faces, list) or len(faces) != len(expected):
        got = len(faces) if isinstance(faces, list) else type(faces).__name__
        return f"want {len(expected)} faces, got {got}"
    for index, (face, want) in enumerate(zip(faces, expected, strict=True)):
        problem = check_face(face, want)
        if problem:
            return f"faces[{index}]: {problem}"
    model = body.get("model")
    if not isinstance(model, dict) or not model.get("name") or not model.get("version"):
        return "model {name, version} missing"
    return None


def check_frame_body(body: Any, expected_faces: int, width: int, height: int) -> str | None:
    """Check a ``/v1/frame`` body: the frame's face count and every face's shape."""
    if not isinstance(body, dict):
        return "body is not a JSON object"
    faces = body.get("faces")
    if not isinstance(faces, list):
        return "faces missing"
    if len(faces) != expected_faces:
        return f"want {expected_faces} faces, got {len(faces)}"
    frame = Expected(width=width, height=height)
    for index, face in enumerate(faces):
        problem = check_face(face, frame)
        if problem:
            return f"faces[{index}]: {problem}"
        if face.get("landmarks") is None:
            return f"faces[{index}]: a detected face without landmarks"
    return None
