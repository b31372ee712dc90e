"""NEG, SQRT, RSQRT, LOGISTIC: each against numpy, in both layouts, batched."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from tests.converter.op_harness import run_single_op

CASES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "NEG": np.negative,
    "SQRT": np.sqrt,
    "RSQRT": lambda x: 1.0 / np.sqrt(x),
    "LOGISTIC": lambda x: 1.0 / (1.0 + np.exp(-x)),
}


@pytest.mark.parametrize("layout", ["TFLITE", "NCHW"])
@pytest.mark.parametrize("builtin", sorted(CASES))
def test_unary_op_matches_numpy(builtin: str, layout: str) -> None:
    data = np.random.default_rng(3).uniform(0.05, 4.0, size=(3, 1, 97, 5)).astype(np.float32)
    if builtin in ("NEG", "LOGISTIC"):
        data -= 2.0  # negative values too
    (got,) = run_single_op(builtin, None, 1, [data], [(1, 1, 97, 5)], batch=3, layout=layout)
    np.testing.assert_allclose(got, CASES[builtin](data), rtol=1e-6, atol=1e-7)
