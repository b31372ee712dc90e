"""Converter fixtures: the authors' .tflite (cached under .cache/) and a fresh conversion."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from PIL import Image

from converter.driver import convert
from converter.models import SPECS
from converter.source import fetch_tflite
from converter.tflite_model import TFLiteModel, read_tflite

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data"
CACHE = REPO / ".cache"


@pytest.fixture(scope="session")
def attention_tflite() -> TFLiteModel:
    return read_tflite(fetch_tflite("face_landmark_with_attention", CACHE))


@pytest.fixture(scope="session")
def attention_onnx(attention_tflite: TFLiteModel) -> onnx.ModelProto:
    """Converted by the code under test (not a possibly stale file on disk)."""
    return convert(attention_tflite)


@pytest.fixture(scope="session")
def attention_session(attention_onnx: onnx.ModelProto) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    return ort.InferenceSession(
        attention_onnx.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def load_rgb(path: Path) -> np.ndarray:
    """uint8 [H, W, 3] RGB."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


@pytest.fixture(scope="session")
def crop_goldens() -> list[dict[str, object]]:
    goldens: list[dict[str, object]] = json.loads((DATA / "crops_goldens.json").read_text())
    return goldens


@pytest.fixture(scope="session")
def landmarker_onnx() -> onnx.ModelProto:
    """FaceLandmarker's landmark model, converted by the code under test."""
    return convert(
        read_tflite(fetch_tflite("face_landmarks_detector", CACHE)),
        SPECS["face_landmarks_detector"],
    )


@pytest.fixture(scope="session")
def blendshapes_onnx() -> onnx.ModelProto:
    """FaceLandmarker's blendshape model, converted by the code under test."""
    return convert(read_tflite(fetch_tflite("face_blendshapes", CACHE)), SPECS["face_blendshapes"])


@pytest.fixture(scope="session")
def landmarker_goldens() -> dict[str, dict[str, Any]]:
    """tests/data's FaceLandmarker goldens (tools/oracle/landmarker_goldens.py): ``frames``
    (IMAGE mode), ``clip`` (VIDEO mode) and ``models`` (the TFLite interpreter, per model)."""
    names = {"frames": "frames", "clip": "clip", "models": "model"}
    return {
        key: json.loads((DATA / f"landmarker_{name}_goldens.json").read_text())
        for key, name in names.items()
    }
