"""MEAN and SUM over constant axes, kept or dropped, from either layout, batched."""

from __future__ import annotations

import numpy as np
import pytest
import tflite
from flatbuffers import Builder

from converter.errors import UnsupportedOpError
from tests.converter.op_harness import OptionsWriter, run_single_op

REDUCERS = {"MEAN": np.mean, "SUM": np.sum}


def _keep_dims(keep: bool) -> OptionsWriter:
    def write(builder: Builder) -> int:
        tflite.ReducerOptionsStart(builder)
        tflite.ReducerOptionsAddKeepDims(builder, keep)
        return tflite.ReducerOptionsEnd(builder)

    return write


@pytest.mark.parametrize("layout", ["TFLITE", "NCHW"])
@pytest.mark.parametrize("keep", [True, False])
@pytest.mark.parametrize(("axes", "rank"), [([3], 4), ([-1], 4), ([1, 2], 4), ([-2], 3)])
@pytest.mark.parametrize("builtin", sorted(REDUCERS))
def test_reduction_matches_numpy(
    builtin: str, axes: list[int], rank: int, keep: bool, layout: str
) -> None:
    shape = (2, 3, 97, 64) if rank == 4 else (2, 146, 2)
    data = np.random.default_rng(5).normal(size=shape).astype(np.float32)
    want = REDUCERS[builtin](data, axis=tuple(axes), keepdims=keep)
    (got,) = run_single_op(
        builtin,
        None,
        1,
        [data],
        [(1, *want.shape[1:])],
        batch=2,
        constants=[np.asarray(axes, dtype=np.int32)],
        options=_keep_dims(keep),
        layout=layout,
    )
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_reducing_the_batch_axis_is_rejected() -> None:
    data = np.zeros((1, 4, 2), dtype=np.float32)
    with pytest.raises(UnsupportedOpError, match="batch"):
        run_single_op(
            "MEAN",
            None,
            1,
            [data],
            [(1, 4, 2)],
            constants=[np.asarray([0], dtype=np.int32)],
            options=_keep_dims(True),
        )
