"""PRELU -> ONNX, slopes laid out for NCHW.

By default a per-channel PReLU is emitted as ``a * x + (1 - a) * Relu(x)`` (equal to PReLU for
every x): ONNX Runtime's CPU PRelu kernel broadcasts per-channel slopes slowly, and the
decomposed form runs about twice as fast end to end (benchmarks/model_latency.py). With
``native_prelu`` (e.g. for TensorRT, which has a fused PReLU) the ONNX PRelu op is emitted.
"""

from __future__ import annotations

import numpy as np

from converter.context import ConversionContext
from converter.registry import register
from converter.tflite_model import Operator


def _emit(ctx: ConversionContext, data: str, slope: np.ndarray, hint: str) -> str:
    if ctx.native_prelu:
        return ctx.node("PRelu", [data, ctx.weight(slope, hint)], hint)
    negative_part = ctx.node("Mul", [data, ctx.weight(slope, f"{hint}_a")], f"{hint}_ax")
    positive = ctx.node(
        "Mul",
        [ctx.node("Relu", [data], f"{hint}_relu"), ctx.weight(1.0 - slope, f"{hint}_1ma")],
        f"{hint}_relu_scaled",
    )
    return ctx.node("Add", [negative_part, positive], hint)


@register("PRELU")
def prelu(ctx: ConversionContext, op: Operator) -> None:
    source = ctx.value(op.inputs[0])
    alpha = np.asarray(ctx.constant(op.inputs[1]), dtype=np.float32)
    output = ctx.tensor(op.outputs[0])
    if source.layout == "NCHW":
        channels = ctx.tensor(op.inputs[0]).shape[3]
        if alpha.size == channels:
            slope = alpha.reshape(channels, 1, 1)
        elif alpha.size == 1:
            slope = alpha.reshape(1, 1, 1)
        else:  # per-position slopes: give them NHWC->NCHW order
            slope = np.transpose(np.broadcast_to(alpha, output.shape[1:]), (2, 0, 1))
    else:
        slope = alpha
    result = _emit(ctx, source.name, slope, output.name)
    ctx.set_value(op.outputs[0], result, source.layout, source.dtype)


@register("RELU")
def relu(ctx: ConversionContext, op: Operator) -> None:
    source = ctx.value(op.inputs[0])
    result = ctx.node("Relu", [source.name], ctx.tensor(op.outputs[0]).name)
    ctx.set_value(op.outputs[0], result, source.layout, source.dtype)
