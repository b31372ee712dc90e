"""MEAN and SUM over constant axes -> ONNX ReduceMean / ReduceSum, layout-aware."""

from __future__ import annotations

import numpy as np
import tflite

from converter.context import NHWC_TO_NCHW, ConversionContext
from converter.errors import UnsupportedOpError
from converter.registry import register
from converter.tflite_model import Operator


def _reduce(ctx: ConversionContext, op: Operator, onnx_op: str) -> None:
    keep_dims = bool(op.builtin_options(tflite.ReducerOptions).KeepDims())
    shape = ctx.tensor(op.inputs[0]).shape
    if not ctx.is_constant(op.inputs[1]):
        raise UnsupportedOpError(op.builtin, "only constant reduction axes are supported")
    rank = len(shape)
    axes = sorted({int(a) % rank for a in np.atleast_1d(ctx.constant(op.inputs[1]))})
    if 0 in axes:
        raise UnsupportedOpError(op.builtin, "reducing over the batch axis is not supported")
    source = ctx.value(op.inputs[0])
    if source.layout == "NCHW" and keep_dims:  # reduce in place, no transpose
        data, layout = source.name, "NCHW"
        axes = sorted(NHWC_TO_NCHW.index(a) for a in axes)
    else:
        data, layout = ctx.as_tflite(op.inputs[0]), "TFLITE"
    name = ctx.tensor(op.outputs[0]).name
    if onnx_op == "ReduceSum":  # opset 13+: axes are an input
        result = ctx.node(onnx_op, [data, ctx.int64s(axes, name)], name, keepdims=int(keep_dims))
    else:  # ReduceMean takes axes as an attribute up to opset 17
        result = ctx.node(onnx_op, [data], name, axes=axes, keepdims=int(keep_dims))
    ctx.set_value(op.outputs[0], result, layout, source.dtype)


@register("MEAN")
def mean(ctx: ConversionContext, op: Operator) -> None:
    _reduce(ctx, op, "ReduceMean")


@register("SUM")
def reduce_sum(ctx: ConversionContext, op: Operator) -> None:
    _reduce(ctx, op, "ReduceSum")
