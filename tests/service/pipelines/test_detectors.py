"""The loaded detectors by kind: ``Detectors.pick`` is the one "not loaded" check, and a
``Detector`` finds the faces of a real frame through its micro-batching caller."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image

from service.contract import SHORT_RANGE
from service.core.config import Settings
from service.core.errors import BackendUnavailable, InvalidParameter
from service.inference.detector import EmbeddedDetector
from service.inference.runtime import RuntimeOptions
from service.lifespan import detectors
from service.pipelines.detectors import Detectors
from tests.service.conftest import DETECTOR_PATH
from tests.service.imagekit import DATA


@pytest.fixture(scope="module")
def short_only() -> Iterator[Detectors]:
    if not DETECTOR_PATH.is_file():
        pytest.skip(f"{DETECTOR_PATH} missing: run `make model`")
    settings = Settings(device="cpu")
    backend = EmbeddedDetector.open(DETECTOR_PATH, RuntimeOptions.from_settings(settings))
    found, callers = detectors({"short": backend}, settings)
    yield found
    for caller in callers:
        caller.close()


def test_the_default_and_a_named_loaded_kind_are_the_same_detector(
    short_only: Detectors,
) -> None:
    assert short_only.kinds == ["short"]
    assert short_only.pick() is short_only.pick("short")
    assert short_only.pick().spec == SHORT_RANGE


def test_a_named_kind_that_is_not_loaded_is_the_requests_fault(short_only: Detectors) -> None:
    with pytest.raises(InvalidParameter, match="'full' is not loaded; loaded: short"):
        short_only.pick("full")


def test_a_missing_default_is_the_gateways_fault(short_only: Detectors) -> None:
    full_by_default = Detectors({"short": short_only.pick("short")}, default="full")
    with pytest.raises(BackendUnavailable, match="not loaded"):
        full_by_default.pick()
    assert full_by_default.pick("short") is short_only.pick()


def test_a_detector_finds_the_faces_of_a_real_frame(short_only: Detectors) -> None:
    image = np.asarray(Image.open(DATA / "frames" / "lenna.png").convert("RGB"))
    height, width = image.shape[:2]
    (face,) = short_only.pick().detect(image, 4, (width, height))
    x, y, w, h = face.box
    assert 0 <= x < x + w <= width and 0 <= y < y + h <= height and face.score > 0.5
