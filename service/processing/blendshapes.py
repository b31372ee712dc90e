"""Landmarks -> the blendshape model's input (``docs/landmarker.md``).

FaceLandmarker's blendshape graph reads 146 of a face's 478 landmarks
(``contract.BLENDSHAPE_LANDMARKS``, ascending), x and y only, in pixels of the whole image
(normalised x times the image width, y times its height): the landmarks every pipeline
returns, already projected onto the posted image. The model centres and scales the points
itself, so where the face is and how large it is do not matter, only the layout.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from service.contract import BLENDSHAPE_LANDMARKS, NUM_LANDMARKS

_SUBSET = np.array(BLENDSHAPE_LANDMARKS)


def blendshape_points(landmarks: Sequence[np.ndarray]) -> np.ndarray:
    """float32 [N, 146, 2] from N faces' float [478, 2|3] landmarks in image pixels."""
    if not landmarks:
        return np.zeros((0, len(BLENDSHAPE_LANDMARKS), 2), dtype=np.float32)
    stacked = np.stack([np.asarray(each)[:, :2] for each in landmarks])
    if stacked.shape[1] != NUM_LANDMARKS:
        raise ValueError(f"want [{NUM_LANDMARKS}, 2|3] landmarks, got {stacked.shape[1:]}")
    return np.ascontiguousarray(stacked[:, _SUBSET], dtype=np.float32)
