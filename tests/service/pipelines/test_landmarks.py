"""A frame's ROIs keep their source: the detection behind them or the tracked ROI they are;
a frame's faces go through the landmark model as one call."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from service.core.config import Settings
from service.inference.detector import EmbeddedDetector
from service.inference.embedded import EmbeddedBackend
from service.inference.runtime import RuntimeOptions
from service.lifespan import standalone_frame_pipeline
from service.pipelines.landmarks import frame_rois
from service.processing.decode import Decoded, decode_image
from service.processing.detection import Detection
from service.processing.roi import roi_from_detection
from service.processing.warp import RotatedRect
from tests.service.conftest import DETECTOR_PATH

DATA = Path(__file__).resolve().parents[2] / "data"


def _detection(x: float, y: float, size: float, score: float) -> Detection:
    eyes = [[x + size * 0.3, y + size * 0.4], [x + size * 0.7, y + size * 0.4]]
    keypoints = np.array(eyes + [[x + size / 2, y + size * 0.6]] * 4, dtype=np.float64)
    return Detection(np.array([x, y, size, size], dtype=np.float64), keypoints, score)


def test_detections_then_tracked_rois_each_with_its_source() -> None:
    left, right = _detection(100, 100, 80, 0.9), _detection(400, 100, 80, 0.8)
    far = RotatedRect(700.0, 400.0, 120.0, 120.0)
    rois = frame_rois([left, right], [far], 1000, 600, 16)
    assert [each.detection for each in rois] == [left, right, None]
    assert [each.tracked_from for each in rois] == [None, None, 0]
    assert rois[2].roi == far
    assert rois[0].roi == roi_from_detection(left)


def test_a_tracked_roi_wins_over_the_detection_it_overlaps() -> None:
    found = _detection(100, 100, 80, 0.9)
    other = _detection(400, 100, 80, 0.8)
    tracked = [RotatedRect(700.0, 400.0, 120.0, 120.0), roi_from_detection(found)]
    rois = frame_rois([found, other], tracked, 1000, 600, 16)
    assert [(each.detection, each.tracked_from) for each in rois] == [
        (other, None),
        (None, 0),
        (None, 1),
    ]


def test_at_most_max_faces() -> None:
    detections = [_detection(100 + 150 * i, 100, 80, 0.9 - i / 10) for i in range(4)]
    rois = frame_rois(detections, [], 1000, 600, 2)
    assert [each.detection for each in rois] == detections[:2]


@pytest.mark.parametrize(
    ("name", "faces"), [("dlib_2008_001009.jpg", 2), ("dlib_2008_001322.jpg", 3)]
)
def test_a_frames_faces_run_as_one_call_of_their_count(
    model_path: Path, name: str, faces: int
) -> None:
    """With the default compiled sizes a frame's 2 or 3 faces are one model call of that size,
    not calls of one (the runtime compiles exactly the sizes it ran: 1 at warm-up, then
    ``faces``), and the frame's landmarks equal those of its faces run one by one."""
    if not DETECTOR_PATH.is_file():
        pytest.skip(f"{DETECTOR_PATH} missing: run `make model`")
    settings = Settings(device="cpu")
    options = RuntimeOptions.from_settings(settings)
    mesh = EmbeddedBackend.open(model_path, options)
    detector = EmbeddedDetector.open(DETECTOR_PATH, options)
    frame = decode_image((DATA / "frames" / name).read_bytes(), min_side=1, max_pixels=10**8)
    with standalone_frame_pipeline(mesh, detector, settings) as frames:
        mesh.infer(np.zeros((1, 192, 192, 3), np.uint8))
        result = frames.process(frame, max_faces=16)
        assert len(result.faces) == faces
        assert mesh.runtime.compiled_batch_sizes == (1, faces)  # type: ignore[attr-defined]
        one_by_one = [
            frames.landmarks(Decoded(frame, frame.shape[1], frame.shape[0]), [roi])
            for roi in frame_rois(
                [f.detection for f in result.faces if f.detection],
                [],
                frame.shape[1],
                frame.shape[0],
                16,
            )
        ]
    for face, alone in zip(result.faces, one_by_one, strict=True):
        np.testing.assert_allclose(face.result.landmarks, alone[0].result.landmarks, atol=1e-3)
