"""SUB, DIV, SQUARED_DIFFERENCE: broadcasting like TFLite, either layout, constants too."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import tflite
from flatbuffers import Builder

from tests.converter.op_harness import OptionsWriter, run_single_op


def _no_activation(
    start: Callable[[Builder], None],
    add: Callable[[Builder, int], None],
    end: Callable[[Builder], int],
) -> OptionsWriter:
    def write(builder: Builder) -> int:
        start(builder)
        add(builder, tflite.ActivationFunctionType.NONE)
        return end(builder)

    return write


OPTIONS = {
    "SUB": _no_activation(
        tflite.SubOptionsStart, tflite.SubOptionsAddFusedActivationFunction, tflite.SubOptionsEnd
    ),
    "DIV": _no_activation(
        tflite.DivOptionsStart, tflite.DivOptionsAddFusedActivationFunction, tflite.DivOptionsEnd
    ),
    "SQUARED_DIFFERENCE": None,  # the op has no options
}
NUMPY: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "SUB": np.subtract,
    "DIV": np.divide,
    "SQUARED_DIFFERENCE": lambda a, b: (a - b) ** 2,
}


@pytest.mark.parametrize("layout", ["TFLITE", "NCHW"])
@pytest.mark.parametrize("builtin", sorted(NUMPY))
def test_binary_op_broadcasts_a_per_row_operand(builtin: str, layout: str) -> None:
    """[N,1,97,64] op [N,1,97,1] (a layer norm's shapes)."""
    rng = np.random.default_rng(7)
    lhs = rng.normal(size=(3, 1, 97, 64)).astype(np.float32)
    rhs = rng.uniform(0.5, 2.0, size=(3, 1, 97, 1)).astype(np.float32)
    (got,) = run_single_op(
        builtin,
        None,
        1,
        [lhs, rhs],
        [(1, 1, 97, 64)],
        batch=3,
        options=OPTIONS[builtin],
        layout=layout,
    )
    np.testing.assert_allclose(got, NUMPY[builtin](lhs, rhs), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("builtin", sorted(NUMPY))
def test_binary_op_with_a_constant_operand(builtin: str) -> None:
    rng = np.random.default_rng(8)
    points = rng.normal(size=(2, 146, 2)).astype(np.float32)
    constant = rng.uniform(0.5, 2.0, size=(2,)).astype(np.float32)
    (got,) = run_single_op(
        builtin,
        None,
        1,
        [points],
        [(1, 146, 2)],
        batch=2,
        constants=[constant],
        options=OPTIONS[builtin],
    )
    np.testing.assert_allclose(got, NUMPY[builtin](points, constant), rtol=1e-6, atol=1e-6)
