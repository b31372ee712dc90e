"""Every model spec converts with the same handlers, and the new builtin handlers are exact."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from converter.driver import convert
from converter.models import SPECS
from converter.source import fetch_tflite
from converter.tflite_model import read_tflite
from tests.converter.conftest import CACHE
from tests.converter.op_harness import run_single_op

EXPECTED = {
    "face_landmark": ((192, 192), {"mesh": (468, 3), "face_score": ()}),
    "iris_landmark": ((64, 64), {"eye_contour": (71, 3), "iris": (5, 3)}),
    "face_detection_short_range": (
        (128, 128),
        {"regressors": (896, 16), "classificators": (896, 1)},
    ),
    # Sparse fp16 weights (DENSIFY), RESIZE_BILINEAR and DEPTH_TO_SPACE.
    "face_detection_full_range": (
        (192, 192),
        {"regressors": (2304, 16), "classificators": (2304, 1)},
    ),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_cascade_and_detector_models_convert_batch_dynamic(name: str) -> None:
    size, outputs = EXPECTED[name]
    model = convert(read_tflite(fetch_tflite(name, CACHE)), SPECS[name])
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    images = np.random.default_rng(0).integers(0, 256, size=(3, *size, 3), dtype=np.uint8)
    results = dict(
        zip(
            [o.name for o in session.get_outputs()],
            session.run(None, {"image": images}),
            strict=True,
        )
    )
    assert {k: v.shape for k, v in results.items()} == {k: (3, *s) for k, s in outputs.items()}
    single = session.run(None, {"image": images[1:2]})
    for batched, alone in zip(results.values(), single, strict=True):
        np.testing.assert_allclose(batched[1], alone[0], atol=1e-3)


def test_relu_handler_keeps_layout_and_values() -> None:
    data = np.random.default_rng(1).normal(size=(2, 5, 7, 3)).astype(np.float32)
    (got,) = run_single_op("RELU", None, 1, [data], [(1, 5, 7, 3)])
    np.testing.assert_array_equal(got, np.maximum(data, 0))
