"""Constant-folded weight ops: DEQUANTIZE of fp16 weights, DENSIFY of sparse weights."""

from __future__ import annotations

import numpy as np

from converter.context import ConversionContext
from converter.errors import UnsupportedOpError
from converter.registry import register
from converter.tflite_model import Operator


@register("DEQUANTIZE")
def dequantize(ctx: ConversionContext, op: Operator) -> None:
    source = ctx.tensor(op.inputs[0])
    if not ctx.is_constant(op.inputs[0]) or source.dtype != np.float16:
        raise UnsupportedOpError(
            "DEQUANTIZE", f"only constant float16 inputs are supported, got {source.name!r}"
        )
    # Folded: consumers read it through ctx.constant(); no ONNX node is emitted. The input
    # may itself be folded (a DENSIFY of sparse fp16 weights).
    ctx.constants[op.outputs[0]] = ctx.constant(op.inputs[0]).astype(np.float32)


@register("DENSIFY")
def densify(ctx: ConversionContext, op: Operator) -> None:
    """A sparse constant made dense: the reader already expanded it (converter/sparsity.py),
    so the dense array is folded like a dequantized weight; no ONNX node is emitted."""
    if not ctx.is_constant(op.inputs[0]):
        name = ctx.tensor(op.inputs[0]).name
        raise UnsupportedOpError("DENSIFY", f"only constant inputs are supported, got {name!r}")
    ctx.constants[op.outputs[0]] = ctx.constant(op.inputs[0])
