"""``service/encoders/rounding.py``: the one rounding rule (0.001 px, 5 decimals unitless)."""

from __future__ import annotations

import numpy as np
import orjson

from service.encoders.rounding import (
    AFFINE_DECIMALS,
    COORD_DECIMALS,
    GAZE_DECIMALS,
    POSE_DECIMALS,
    rounded,
    rounded_float,
)


def test_pixels_keep_a_thousandth_and_unitless_values_five_decimals() -> None:
    assert COORD_DECIMALS == 3
    assert AFFINE_DECIMALS == POSE_DECIMALS == GAZE_DECIMALS == 5
    assert rounded_float(12.34567, COORD_DECIMALS) == 12.346
    assert rounded_float(np.float32(0.1234567), AFFINE_DECIMALS) == 0.12346


def test_rounded_arrays_are_what_orjson_serialises_as_is() -> None:
    """float32 or strided input comes back float64 and C-contiguous, so orjson writes it
    without a copy or a ``tolist``, and the JSON shows the rounded digits only."""
    strided = (np.arange(12, dtype=np.float32).reshape(3, 4) / 3.0)[:, ::2]
    out = rounded(strided, COORD_DECIMALS)
    assert out.dtype == np.float64 and out.flags.c_contiguous
    assert out.shape == (3, 2)
    assert orjson.loads(orjson.dumps(out, option=orjson.OPT_SERIALIZE_NUMPY))[0] == [0.0, 0.667]
