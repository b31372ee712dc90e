"""PRELU -> ONNX PRelu (slope laid out for NCHW)."""

from __future__ import annotations

import numpy as np

from converter.context import ConversionContext
from converter.registry import register
from converter.tflite_model import Operator


@register("PRELU")
def prelu(ctx: ConversionContext, op: Operator) -> None:
    source = ctx.value(op.inputs[0])
    alpha = ctx.constant(op.inputs[1])
    output = ctx.tensor(op.outputs[0])
    if source.layout == "NCHW":
        channels = ctx.tensor(op.inputs[0]).shape[3]
        if alpha.size == channels:
            slope = alpha.reshape(channels, 1, 1)
        elif alpha.size == 1:
            slope = alpha.reshape(1, 1, 1)
        else:  # per-position slopes: give them NHWC->NCHW order
            slope = np.transpose(np.broadcast_to(alpha, output.shape[1:]), (2, 0, 1))
        result = ctx.node("PRelu", [source.name, ctx.weight(slope, output.name)], output.name)
        ctx.set_value(op.outputs[0], result, "NCHW", source.dtype)
    else:
        result = ctx.node("PRelu", [source.name, ctx.weight(alpha, output.name)], output.name)
        ctx.set_value(op.outputs[0], result, "TFLITE", source.dtype)
