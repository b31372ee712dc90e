"""FaceLandmarker's landmark model behind ``LandmarkerBackend`` (``service/inference/
landmarker.py``) on both embedded runtimes, against the TFLite interpreter's goldens
(``tests/data/landmarker_model_goldens.json``), and the blendshape model behind
``EmbeddedBlendshapes``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from service.contract import BLENDSHAPES_SPEC, LANDMARKER_SPEC, LIPS
from service.core.config import Settings
from service.inference.blendshapes import EmbeddedBlendshapes
from service.inference.landmarker import LandmarkerBackend
from service.inference.runtime import RuntimeOptions, open_runtime
from tests.conftest import TEST_DATA
from tools.oracle.landmarker_goldens import crop_256

GOLDENS = json.loads((TEST_DATA / "landmarker_model_goldens.json").read_text())
LANDMARK_PX = 0.01  # px of the 256x256 input
SCORE = 1e-4


def _model(path: Path) -> Path:
    if not path.is_file():
        pytest.skip(f"{path} missing: run `make landmarker-models`")
    return path


@pytest.mark.parametrize("runtime", ["openvino", "onnxruntime"])
def test_landmarker_backend_matches_the_tflite_interpreter(runtime: str) -> None:
    settings = Settings(runtime=runtime, device="cpu")
    options = RuntimeOptions.from_settings(settings)
    path = _model(settings.landmarker_model_path)
    backend = LandmarkerBackend(open_runtime(path, LANDMARKER_SPEC, options))
    assert backend.name == runtime
    goldens = GOLDENS["landmark_model"]
    outputs = backend.infer(np.stack([crop_256(TEST_DATA / g["file"]) for g in goldens]))
    assert backend.is_ready()
    faces = [i for i, g in enumerate(goldens) if g["landmarks"] is not None]
    want = np.array([goldens[i]["landmarks"] for i in faces])
    assert np.abs(outputs.landmarks[faces] - want).max() <= LANDMARK_PX
    np.testing.assert_allclose(outputs.face_score, [g["face_score"] for g in goldens], atol=SCORE)
    np.testing.assert_array_equal(outputs.lips, outputs.landmarks[:, list(LIPS), :2])
    with pytest.raises(ValueError, match="uint8"):
        backend.infer(np.zeros((1, 192, 192, 3), dtype=np.uint8))  # the attention size


@pytest.mark.parametrize("runtime", ["openvino", "onnxruntime"])
def test_blendshape_backend_matches_the_tflite_interpreter(runtime: str) -> None:
    settings = Settings(runtime=runtime, device="cpu")
    path = _model(settings.blendshapes_model_path)
    backend = EmbeddedBlendshapes(
        open_runtime(path, BLENDSHAPES_SPEC, RuntimeOptions.from_settings(settings))
    )
    assert backend.name == runtime
    frames = json.loads((TEST_DATA / "landmarker_frames_goldens.json").read_text())["frames"]
    points, want = [], []
    by_face = {g["face"]: g["scores"] for g in GOLDENS["blendshape_model"]}
    from tools.oracle.landmarker_goldens import blendshape_points

    for frame in frames:
        for k, face in enumerate(frame["faces"]):
            points.append(blendshape_points(face["landmarks"], frame["width"], frame["height"]))
            want.append(by_face[f"{frame['file']}#{k}"])
    got = backend.scores(np.stack(points))  # 14 faces: chunks of the compiled batch sizes
    assert got.shape == (len(points), 52)
    assert np.abs(got - np.array(want)).max() <= SCORE
    with pytest.raises(ValueError, match="float32"):
        backend.scores(np.stack(points).astype(np.float64))
