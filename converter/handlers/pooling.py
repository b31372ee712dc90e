"""MAX_POOL_2D -> ONNX MaxPool (NCHW)."""

from __future__ import annotations

import tflite

from converter.context import ConversionContext
from converter.handlers.common import fused_activation, spatial_pads
from converter.registry import register
from converter.tflite_model import Operator


@register("MAX_POOL_2D")
def max_pool_2d(ctx: ConversionContext, op: Operator) -> None:
    options = op.builtin_options(tflite.Pool2DOptions)
    source = ctx.tensor(op.inputs[0])
    output = ctx.tensor(op.outputs[0])
    kernel = (options.FilterHeight(), options.FilterWidth())
    strides = (options.StrideH(), options.StrideW())
    pooled = ctx.node(
        "MaxPool",
        [ctx.as_nchw(op.inputs[0])],
        output.name,
        kernel_shape=list(kernel),
        strides=list(strides),
        pads=spatial_pads(options.Padding(), (source.shape[1], source.shape[2]), kernel, strides),
    )
    result = fused_activation(ctx, pooled, options.FusedActivationFunction(), output.name)
    ctx.set_value(op.outputs[0], result, "NCHW", ctx.value(op.inputs[0]).dtype)
