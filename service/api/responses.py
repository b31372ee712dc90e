"""Pipeline results (NumPy, posted-image pixels) -> response schemas."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from service.api import schemas
from service.processing.postprocess import FaceResult

# 0.001 px is far below the model's accuracy and keeps the JSON short.
COORD_DECIMALS = 3
AFFINE_DECIMALS = 5


def _rounded(array: np.ndarray, decimals: int) -> Any:
    return np.round(array, decimals).tolist()


def face_from_result(result: FaceResult) -> schemas.Face:
    landmarks = None
    regions = None
    if result.landmarks is not None and result.regions is not None:
        landmarks = _rounded(result.landmarks, COORD_DECIMALS)
        r = result.regions

        def region(name: str) -> schemas.Region:
            affine = r[name].affine
            assert affine is not None
            return schemas.Region(
                landmarks=_rounded(r[name].landmarks, COORD_DECIMALS),
                affine=_rounded(affine, AFFINE_DECIMALS),
            )

        regions = schemas.Regions(
            lips=region("lips"),
            left_eye=region("left_eye"),
            right_eye=region("right_eye"),
            left_iris=schemas.Iris(landmarks=_rounded(r["left_iris"].landmarks, COORD_DECIMALS)),
            right_iris=schemas.Iris(landmarks=_rounded(r["right_iris"].landmarks, COORD_DECIMALS)),
        )
    return schemas.Face(
        image=schemas.ImageSize(width=result.width, height=result.height),
        score=result.score,
        landmarks=landmarks,
        regions=regions,
    )


def faces_response(
    results: Sequence[FaceResult], model: schemas.ModelInfo
) -> schemas.FacesResponse:
    return schemas.FacesResponse(model=model, faces=[face_from_result(r) for r in results])
