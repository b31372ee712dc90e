"""Blendshapes for any pipeline's faces: their landmarks -> 52 scores each.

``Blendshapes`` takes the landmarks a pipeline returns (posted-image pixels; in tracking
sessions the smoothed ones, as FaceLandmarker feeds its smoothed points to the model),
picks the model's 146 points (``service.processing.blendshapes``) and runs all of a
request's faces as one call of the blendshape model's ``ModelCaller``, where they join other
requests' faces (one model call per micro-batch). Timed as the ``blendshapes`` stage.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from service import metrics
from service.contract import BLENDSHAPES_SPEC
from service.core.errors import InvalidParameter
from service.inference.batcher import ModelCaller
from service.pipelines.results import CropFace, FrameResult
from service.processing.blendshapes import blendshape_points
from service.processing.postprocess import FaceResult


class Blendshapes:
    """The blendshape model behind its one ``ModelCaller`` (built in ``service.lifespan``)."""

    def __init__(self, caller: ModelCaller[np.ndarray]) -> None:
        self.caller = caller

    def scores_blocking(self, landmarks: Sequence[np.ndarray]) -> list[np.ndarray]:
        """float32 [52] per face of ``landmarks`` ([478, 2|3] each, image pixels), from a
        worker thread."""
        if not landmarks:
            return []
        with metrics.timed("blendshapes"):
            return list(self.caller.infer_blocking(blendshape_points(landmarks)))

    async def scores(self, landmarks: Sequence[np.ndarray]) -> list[np.ndarray]:
        """``scores_blocking`` for async code."""
        if not landmarks:
            return []
        with metrics.timed("blendshapes"):
            return list(await self.caller.infer(blendshape_points(landmarks)))


def require_blendshapes(blendshapes: Blendshapes | None) -> Blendshapes:
    """``blendshapes``, or ``InvalidParameter`` (422) when the model is not loaded."""
    if blendshapes is None:
        raise InvalidParameter(
            "query.blendshapes: the blendshape model is not loaded (build it: "
            f"{BLENDSHAPES_SPEC.build_hint})"
        )
    return blendshapes


def _landmarks(results: Sequence[FaceResult]) -> tuple[list[int], list[np.ndarray]]:
    """The indices of the results with landmarks, and those landmarks."""
    found = [(i, r.landmarks) for i, r in enumerate(results) if r.landmarks is not None]
    return [i for i, _ in found], [points for _, points in found]


def with_frame_blendshapes(frame: FrameResult, blendshapes: Blendshapes) -> FrameResult:
    """``frame`` with every face's blendshapes (blocking: one model call for its faces)."""
    indices, landmarks = _landmarks([face.result for face in frame.faces])
    scores = dict(zip(indices, blendshapes.scores_blocking(landmarks), strict=True))
    faces = [replace(face, blendshapes=scores.get(i)) for i, face in enumerate(frame.faces)]
    return replace(frame, faces=faces)


async def with_crop_blendshapes(
    faces: Sequence[CropFace], blendshapes: Blendshapes
) -> list[CropFace]:
    """``faces`` with blendshapes for those with landmarks (one model call for them all)."""
    indices, landmarks = _landmarks([face.result for face in faces])
    scores = dict(zip(indices, await blendshapes.scores(landmarks), strict=True))
    return [replace(face, blendshapes=scores.get(i)) for i, face in enumerate(faces)]
