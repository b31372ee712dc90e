"""Every model spec converts with the same handlers, and the new builtin handlers are exact."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from converter.driver import convert
from converter.models import SPECS
from converter.registry import registered_ops
from converter.source import fetch_tflite
from converter.tflite_model import read_tflite
from service.contract import BLENDSHAPES_SPEC, LANDMARKER_SPEC
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


# FaceLandmarker's models: the ops each uses (all registered), and the converted graph's I/O.
LANDMARKER_OPS = {
    "face_landmarks_detector": {
        *("CONV_2D", "DEPTHWISE_CONV_2D", "PRELU", "ADD", "MAX_POOL_2D", "PAD", "RESHAPE"),
        *("DEQUANTIZE", "LOGISTIC"),
    },
    "face_blendshapes": {
        *("MEAN", "SUB", "MUL", "SUM", "SQRT", "RSQRT", "DIV", "SQUARED_DIFFERENCE", "RESHAPE"),
        *("STRIDED_SLICE", "TRANSPOSE", "CONCATENATION", "CONV_2D", "DEQUANTIZE", "NEG", "ADD"),
        "LOGISTIC",
    },
}


@pytest.mark.parametrize("name", sorted(LANDMARKER_OPS))
def test_every_op_of_the_landmarker_models_has_a_handler(name: str) -> None:
    keys = {op.key for op in read_tflite(fetch_tflite(name, CACHE)).operators}
    assert keys == LANDMARKER_OPS[name]
    assert keys <= set(registered_ops())


def _session(name: str) -> ort.InferenceSession:
    model = convert(read_tflite(fetch_tflite(name, CACHE)), SPECS[name])
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def _batch_equals_singles(session: ort.InferenceSession, feed: str, data: np.ndarray) -> None:
    names = [o.name for o in session.get_outputs()]
    batched = session.run(None, {feed: data})
    for item in range(len(data)):
        alone = session.run(None, {feed: data[item : item + 1]})
        for name, together, single in zip(names, batched, alone, strict=True):
            np.testing.assert_allclose(together[item], single[0], atol=1e-4, err_msg=name)


def test_landmark_model_converts_to_the_contract_batch_dynamic() -> None:
    session = _session("face_landmarks_detector")
    (graph_input,) = session.get_inputs()
    assert (graph_input.name, graph_input.type) == (LANDMARKER_SPEC.input_name, "tensor(uint8)")
    assert graph_input.shape[1:] == list(LANDMARKER_SPEC.input_shape)
    assert {o.name: tuple(o.shape[1:]) for o in session.get_outputs()} == dict(
        LANDMARKER_SPEC.outputs
    )
    images = np.random.default_rng(2).integers(0, 256, size=(3, 256, 256, 3), dtype=np.uint8)
    _batch_equals_singles(session, graph_input.name, images)


def test_blendshape_model_converts_to_the_contract_batch_dynamic() -> None:
    """Float points in, 52 scores per face out; the TFLite graph's batch-dropping tail is
    left out, so N faces give N rows."""
    session = _session("face_blendshapes")
    (graph_input,) = session.get_inputs()
    assert (graph_input.name, graph_input.type) == (BLENDSHAPES_SPEC.input_name, "tensor(float)")
    assert graph_input.shape[1:] == list(BLENDSHAPES_SPEC.input_shape)
    assert {o.name: tuple(o.shape[1:]) for o in session.get_outputs()} == dict(
        BLENDSHAPES_SPEC.outputs
    )
    rng = np.random.default_rng(4)
    points = (rng.uniform(200, 400, size=(5, 146, 2))).astype(np.float32)
    _batch_equals_singles(session, graph_input.name, points)
    (scores,) = session.run(None, {graph_input.name: points})
    assert scores.shape == (5, 52) and ((scores >= 0) & (scores <= 1)).all()
