"""``service/pipelines/frame_decode.py``: a frame decodes whole unless it is a JPEG shown as
stored whose faces are all tracked with ROIs large enough at the reduced scale; the decode
keeps the gateway's limits."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from service.core.config import Settings
from service.core.errors import InvalidImage
from service.core.memory import MemoryBudget
from service.pipelines.decode_budget import DecodeBudget
from service.pipelines.frame_decode import LANDMARK_ROI_MIN_PX, FrameDecoder
from service.pipelines.results import TrackState
from service.processing.decode import Header, probe
from service.processing.warp import RotatedRect
from tests.service.imagekit import encode

SETTINGS = Settings()
RNG = np.random.default_rng(0)
PIXELS = RNG.integers(0, 255, (720, 1280, 3), dtype=np.uint8)
JPEG = encode(Image.fromarray(PIXELS), "JPEG", quality=90)
PNG = encode(Image.fromarray(PIXELS), "PNG")


def _decoder() -> FrameDecoder:
    budget = DecodeBudget(
        MemoryBudget(SETTINGS.decode_memory_bytes, timeout_s=SETTINGS.queue_timeout_s),
        request_bytes=SETTINGS.request_decode_bytes,
        min_side=SETTINGS.min_image_side,
        max_pixels=SETTINGS.max_image_pixels,
    )
    return FrameDecoder(budget)


def _header(data: bytes) -> Header:
    return probe(data, min_side=SETTINGS.min_image_side, max_pixels=SETTINGS.max_image_pixels)


def _tracked(*sides: float) -> TrackState:
    return TrackState([RotatedRect(640.0, 360.0, side, side) for side in sides])


@pytest.mark.parametrize(
    ("side", "eighths"),
    [
        (4 * LANDMARK_ROI_MIN_PX, 2),  # a quarter still leaves the model's input size
        (2 * LANDMARK_ROI_MIN_PX, 4),
        (1.5 * LANDMARK_ROI_MIN_PX, 8),  # half would leave less than the model's input
    ],
)
def test_a_fully_tracked_jpeg_decodes_at_the_smallest_scale_that_keeps_the_roi(
    side: float, eighths: int
) -> None:
    assert FrameDecoder.eighths(_header(JPEG), _tracked(side), max_faces=1) == eighths


def test_frames_the_detector_runs_on_decode_whole() -> None:
    big = 4 * LANDMARK_ROI_MIN_PX
    header = _header(JPEG)
    assert FrameDecoder.eighths(header, None, max_faces=1) == 8  # a still
    assert FrameDecoder.eighths(header, TrackState(), max_faces=1) == 8  # nothing tracked yet
    assert FrameDecoder.eighths(header, _tracked(big), max_faces=2) == 8  # one face short
    assert FrameDecoder.eighths(header, _tracked(big, 100.0), max_faces=2) == 8  # smallest ROI
    assert FrameDecoder.eighths(_header(PNG), _tracked(big), max_faces=1) == 8  # no DCT scale


def test_the_decode_is_reduced_by_its_scale_and_reports_the_posted_size() -> None:
    decoder = _decoder()
    whole = decoder.decode(JPEG, _header(JPEG))
    quarter = decoder.decode(JPEG, _header(JPEG), eighths=2)
    assert whole.pixels.shape == (720, 1280, 3) and whole.eighths == 8
    assert quarter.pixels.shape == (180, 320, 3) and quarter.eighths == 2
    assert (quarter.width, quarter.height) == (whole.width, whole.height) == (1280, 720)


def test_the_decode_keeps_the_gateways_limits() -> None:
    tiny = encode(Image.fromarray(PIXELS[: SETTINGS.min_image_side - 1, :64]), "PNG")
    with pytest.raises(InvalidImage):
        _decoder().decode(tiny)
