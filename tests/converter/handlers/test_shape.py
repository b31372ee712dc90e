"""TRANSPOSE (from either layout) and CONCATENATION with a batch-1 constant, batched."""

from __future__ import annotations

import numpy as np
import pytest
import tflite
from flatbuffers import Builder

from converter.errors import UnsupportedOpError
from tests.converter.op_harness import OptionsWriter, run_single_op


@pytest.mark.parametrize("layout", ["TFLITE", "NCHW"])
@pytest.mark.parametrize("perm", [[0, 1, 3, 2], [0, 3, 1, 2], [0, 2, 3, 1]])
def test_transpose_matches_numpy(perm: list[int], layout: str) -> None:
    data = np.random.default_rng(9).normal(size=(3, 2, 5, 7)).astype(np.float32)
    want = np.transpose(data, perm)
    (got,) = run_single_op(
        "TRANSPOSE",
        None,
        1,
        [data],
        [(1, *want.shape[1:])],
        batch=3,
        constants=[np.asarray(perm, dtype=np.int32)],
        layout=layout,
    )
    np.testing.assert_array_equal(got, want)


def test_transpose_that_moves_the_batch_axis_is_rejected() -> None:
    data = np.zeros((1, 2, 3), dtype=np.float32)
    with pytest.raises(UnsupportedOpError, match="batch"):
        run_single_op("TRANSPOSE", None, 1, [data], [(2, 1, 3)], constants=[np.asarray([1, 0, 2])])


def _axis(axis: int) -> OptionsWriter:
    def write(builder: Builder) -> int:
        tflite.ConcatenationOptionsStart(builder)
        tflite.ConcatenationOptionsAddAxis(builder, axis)
        return tflite.ConcatenationOptionsEnd(builder)

    return write


@pytest.mark.parametrize("layout", ["TFLITE", "NCHW"])
def test_concatenation_repeats_a_constant_token_for_every_item(layout: str) -> None:
    """The blendshape model joins a learnt [1,1,1,64] token to [N,1,96,64] tokens (the
    harness puts constants last, so here the token comes second)."""
    rng = np.random.default_rng(10)
    tokens = rng.normal(size=(4, 1, 96, 64)).astype(np.float32)
    token = rng.normal(size=(1, 1, 1, 64)).astype(np.float32)
    (got,) = run_single_op(
        "CONCATENATION",
        None,
        1,
        [tokens],
        [(1, 1, 97, 64)],
        batch=4,
        constants=[token],
        options=_axis(2),
        layout=layout,
    )
    # The harness puts constants after the inputs: [tokens, token] along axis 2.
    want = np.concatenate([tokens, np.repeat(token, 4, axis=0)], axis=2)
    np.testing.assert_array_equal(got, want)
