"""The full-range face detector: parity with MediaPipe's full-range face detection
(``tests/data/full_range_goldens.json``, made by ``tools/oracle/full_range_goldens.py``) on
the test frames and on downscaled copies whose faces are 21-40 px wide, plus its anchors.

Per-image figures are printed (``pytest -s``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from service.contract import FULL_RANGE, SHORT_RANGE
from service.core.config import Settings
from service.inference.detector import EmbeddedDetector, TritonDetector, create_detector
from service.inference.runtime import RuntimeOptions
from service.processing.decode import decode_image
from service.processing.detection import letterbox, postprocess_detections, ssd_anchors

DATA = Path(__file__).resolve().parents[2] / "data"
REPO = Path(__file__).resolve().parents[3]
FULL_PATH = REPO / "model_repository/face_detector_full_range/1/model.onnx"
SHORT_PATH = REPO / "model_repository/face_detector/1/model.onnx"
GOLDENS = json.loads((DATA / "full_range_goldens.json").read_text())
BOX_TOLERANCE = 0.01  # of the image side, per box coordinate and keypoint
SCORE_TOLERANCE = 0.01


def test_full_range_anchors() -> None:
    """One 48x48 grid of stride 4 on the 192x192 input, one anchor per cell."""
    anchors = ssd_anchors(FULL_RANGE)
    assert anchors.shape == (2304, 2) and FULL_RANGE.num_boxes == 2304
    np.testing.assert_allclose(anchors[0], [0.5 / 48, 0.5 / 48])
    np.testing.assert_allclose(anchors[1], [1.5 / 48, 0.5 / 48])
    np.testing.assert_allclose(anchors[48], [0.5 / 48, 1.5 / 48])
    assert ssd_anchors(SHORT_RANGE).shape == (896, 2)


@pytest.fixture(scope="module")
def detectors() -> Iterator[dict[str, EmbeddedDetector]]:
    for path in (FULL_PATH, SHORT_PATH):
        if not path.is_file():
            pytest.skip(f"{path} missing: run `make model`")
    found = {
        "full": EmbeddedDetector.open(FULL_PATH, RuntimeOptions(device="cpu"), FULL_RANGE),
        "short": EmbeddedDetector.open(SHORT_PATH, RuntimeOptions(device="cpu")),
    }
    yield found


def _detect(detector: EmbeddedDetector, image: np.ndarray) -> list:
    height, width = image.shape[:2]
    spec = detector.spec
    regressors, classificators = detector.detect(letterbox(image, spec.input_size)[None])
    return postprocess_detections(regressors[0], classificators[0], width, height, 0.5, spec=spec)


@pytest.mark.parametrize("golden", GOLDENS, ids=[g["file"] for g in GOLDENS])
def test_parity_with_mediapipe_full_range(
    detectors: dict[str, EmbeddedDetector], golden: dict
) -> None:
    image = decode_image((DATA / golden["file"]).read_bytes(), min_side=1, max_pixels=10**8)
    height, width = image.shape[:2]
    assert (width, height) == (golden["width"], golden["height"])
    ours = _detect(detectors["full"], image)
    short = _detect(detectors["short"], image)
    expected = golden["detections"]
    scale = np.array([width, height, width, height])
    errors = []
    unmatched = list(range(len(ours)))
    for want in expected:
        box = np.array(want["box"])
        best = min(unmatched, key=lambda i: np.abs(ours[i].box / scale - box).max(), default=None)
        assert best is not None, f"MediaPipe's face {box} not found"
        unmatched.remove(best)
        got = ours[best]
        box_error = float(np.abs(got.box / scale - box).max())
        points_error = float(np.abs(got.keypoints / scale[:2] - np.array(want["keypoints"])).max())
        errors.append(max(box_error, points_error))
        assert abs(got.score - want["score"]) <= SCORE_TOLERANCE
    widths = [round(d["box"][2] * width) for d in expected]
    print(
        f"\n{golden['file']}: {len(ours)} face(s) full range (MediaPipe {len(expected)}, "
        f"widths {widths} px; short range finds {len(short)}), worst box/keypoint error "
        f"{max(errors, default=0.0):.4f} of the side"
    )
    assert len(ours) == len(expected)
    assert max(errors, default=0.0) <= BOX_TOLERANCE


def test_full_range_finds_the_small_faces_short_range_misses(
    detectors: dict[str, EmbeddedDetector],
) -> None:
    """What the option is for: on the downscaled copies the full-range model finds every face
    MediaPipe's full-range model finds, the short-range model fewer."""
    small = [g for g in GOLDENS if g["file"].startswith("frames_small/")]
    full = short = expected = 0
    for golden in small:
        image = decode_image((DATA / golden["file"]).read_bytes(), min_side=1, max_pixels=10**8)
        full += len(_detect(detectors["full"], image))
        short += len(_detect(detectors["short"], image))
        expected += len(golden["detections"])
    print(f"\nsmall faces (21-40 px): full range {full}, short range {short}, MediaPipe {expected}")
    assert full == expected and short < full


def test_create_detector_picks_the_full_range_file(tmp_path: Path) -> None:
    settings = Settings(device="cpu", detector_full_model_path=tmp_path / "missing.onnx")
    from service.core.errors import BackendUnavailable

    with pytest.raises(BackendUnavailable):
        create_detector(settings, "full")


@pytest.mark.parametrize("options", [{"protocol": "udp"}, {"timeout_s": 0}, {"retries": -1}])
def test_triton_detector_takes_the_triton_models_options(options: dict[str, Any]) -> None:
    """One constructor check for every model on Triton (``TritonModel``): the detector's
    options are the mesh backend's."""
    with pytest.raises(ValueError):
        TritonDetector("127.0.0.1:1", model_name="face_detector", **options)
    detector = TritonDetector("127.0.0.1:1", protocol="http", model_name="face_detector")
    assert detector.model.protocol == "http"
    detector.close()
