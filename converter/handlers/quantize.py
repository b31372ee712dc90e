"""DEQUANTIZE of constant fp16 weights: folded into fp32 constants at conversion time."""

from __future__ import annotations

import numpy as np

from converter.context import ConversionContext
from converter.errors import UnsupportedOpError
from converter.registry import register
from converter.tflite_model import Operator


@register("DEQUANTIZE")
def dequantize(ctx: ConversionContext, op: Operator) -> None:
    source = ctx.tensor(op.inputs[0])
    if source.data is None or source.dtype != np.float16:
        raise UnsupportedOpError(
            "DEQUANTIZE", f"only constant float16 inputs are supported, got {source.name!r}"
        )
    # Folded: consumers read it through ctx.constant(); no ONNX node is emitted.
    ctx.constants[op.outputs[0]] = source.data.astype(np.float32)
