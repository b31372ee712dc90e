"""A frame's decode policy: how much of the image to decode, and the decode itself with the
gateway's size limits.

A frame the detector runs on is decoded whole, as MediaPipe does. A tracking frame whose
ROIs are all known (every face tracked, so the detector does not run) is decoded DCT-scaled
when it is a JPEG whose smallest tracked ROI keeps at least ``LANDMARK_ROI_MIN_PX`` px per
side at that scale: the landmark model's 192x192 warp needs no more, and the decode costs
what the model needs. Its memory cost is the reduced one, held from the decode budget like
any other (``docs/ARCHITECTURE.md`` "Decoding").
"""

from __future__ import annotations

from typing import Final

from service.contract import MODEL_INPUT_SIZE
from service.pipelines.decode_budget import DecodeBudget
from service.pipelines.results import TrackState
from service.processing.decode import EIGHTHS, Decoded, Header

# A tracked frame decodes reduced only while its smallest ROI keeps this many px per side.
LANDMARK_ROI_MIN_PX: Final = MODEL_INPUT_SIZE


class FrameDecoder:
    """Frame bytes -> RGB pixels, at the scale ``eighths`` picks; ``budget`` is the
    process's one ``DecodeBudget`` (shared with the crop pipelines)."""

    def __init__(self, budget: DecodeBudget) -> None:
        self.budget = budget

    @staticmethod
    def eighths(header: Header, state: TrackState | None, max_faces: int) -> int:
        """The DCT scale (n/8) a frame needs: reduced only for a JPEG shown as stored whose
        every face is tracked (the detector will not run) and whose smallest ROI keeps at
        least ``LANDMARK_ROI_MIN_PX`` px per side; 8 (whole) otherwise."""
        if (
            state is None
            or not state.rois
            or len(state.rois) < max_faces
            or not header.can_scale()
            or header.orientation != 1  # flipped axes round differently at reduced sizes
        ):
            return 8
        side = min(min(roi.width, roi.height) for roi in state.rois)
        return next(n for n in EIGHTHS[::-1] if n == 8 or side * n / 8 >= LANDMARK_ROI_MIN_PX)

    def decode(self, payload: bytes, header: Header | None = None, eighths: int = 8) -> Decoded:
        """Image bytes -> RGB pixels at ``eighths``/8 of the size (JPEG; others whole), with
        the budget's size limits (blocking)."""
        if header is None:
            header = self.budget.probe(payload)
        return self.budget.decode(payload, header, eighths)
