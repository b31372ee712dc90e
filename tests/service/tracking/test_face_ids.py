"""Stable face IDs: the assignment rule, and two real faces crossing in a synthetic clip
through a real tracking session."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from service.tracking.face_ids import FaceIds
from service.tracking.smoothing import OneEuroParams
from tests.service.tracking.conftest import RunSession, png

DATA = Path(__file__).resolve().parents[2] / "data"


def test_tracked_faces_keep_their_ids_and_detected_ones_get_new_ones() -> None:
    ids = FaceIds()
    assert ids.assign([None, None]) == [1, 2]
    assert ids.assign([1, 0]) == [2, 1]  # ROI order changed: IDs follow the faces
    assert ids.assign([1]) == [1]  # face 2 lost
    assert ids.assign([0, None]) == [1, 3]  # a face found by the detector is new
    assert ids.assign([None]) == [4]  # everything lost, then found again: new
    assert ids.assign([0, 0]) == [4, 5]  # two faces never share an ID
    assert ids.assign([7]) == [6]  # an index out of range is a new face


def _crossing_clip(frames: int = 40) -> list[bytes]:
    """Two real face crops (192x192) on a grey 720x480 canvas: one moves left to right along
    the top, the other right to left along the bottom; they pass each other mid-clip, their
    crops 8 px apart vertically."""
    top = np.asarray(Image.open(DATA / "crops" / "lenna_face0.png").convert("RGB"))
    bottom = np.asarray(Image.open(DATA / "crops" / "takeo_face0.png").convert("RGB"))
    width, height, travel = 720, 480, 720 - 232
    payloads = []
    for k in range(frames):
        canvas = np.full((height, width, 3), 110, np.uint8)
        x_top = 20 + k * travel // (frames - 1)
        x_bottom = width - 212 - k * travel // (frames - 1)
        canvas[30:222, x_top : x_top + 192] = top
        canvas[230:422, x_bottom : x_bottom + 192] = bottom
        payloads.append(png(canvas))
    return payloads


@pytest.mark.slow
@pytest.mark.parametrize("smoothing", [OneEuroParams(), None], ids=["smoothed", "raw"])
def test_two_crossing_faces_keep_their_ids(
    run_session: RunSession, smoothing: OneEuroParams | None
) -> None:
    results = run_session(_crossing_clip(), 2, smoothing)
    kept = 0
    first: tuple[int | None, int | None] | None = None
    for result in results:
        faces = sorted(result.faces, key=lambda f: float(f.result.landmarks[:, 1].mean()))
        assert len(faces) == 2
        pair = (faces[0].face_id, faces[1].face_id)
        first = first or pair
        kept += pair == first
    assert first is not None and None not in first and first[0] != first[1]
    share = kept / len(results)
    print(
        f"\ncrossing faces ({'smoothed' if smoothing else 'raw'}): IDs {first} kept on "
        f"{100 * share:.0f}% of {len(results)} frames; detector ran on "
        f"{sum(r.detector_ran for r in results)} frame(s)"
    )
    assert share == 1.0
