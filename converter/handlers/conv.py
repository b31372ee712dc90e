"""CONV_2D and DEPTHWISE_CONV_2D -> ONNX Conv (NCHW)."""

from __future__ import annotations

import numpy as np
import tflite

from converter.context import ConversionContext
from converter.handlers.common import fused_activation, spatial_pads
from converter.registry import register
from converter.tflite_model import Operator


def _emit_conv(
    ctx: ConversionContext,
    op: Operator,
    weight_oihw: np.ndarray,
    group: int,
    strides: tuple[int, int],
    dilations: tuple[int, int],
    padding: int,
    activation: int,
) -> None:
    source = ctx.tensor(op.inputs[0])
    in_hw = (source.shape[1], source.shape[2])
    kernel_hw = (int(weight_oihw.shape[2]), int(weight_oihw.shape[3]))
    inputs = [ctx.as_nchw(op.inputs[0]), ctx.weight(weight_oihw, f"{source.name}_w")]
    if len(op.inputs) > 2 and op.inputs[2] >= 0:
        inputs.append(ctx.weight(ctx.constant(op.inputs[2]), f"{source.name}_b"))
    output = ctx.tensor(op.outputs[0])
    conv = ctx.node(
        "Conv",
        inputs,
        output.name,
        kernel_shape=list(kernel_hw),
        strides=list(strides),
        dilations=list(dilations),
        pads=spatial_pads(padding, in_hw, kernel_hw, strides, dilations),
        group=group,
    )
    result = fused_activation(ctx, conv, activation, output.name)
    ctx.set_value(op.outputs[0], result, "NCHW", ctx.compute_dtype)


@register("CONV_2D")
def conv_2d(ctx: ConversionContext, op: Operator) -> None:
    options = op.builtin_options(tflite.Conv2DOptions)
    weight_ohwi = ctx.constant(op.inputs[1])  # TFLite filter [O, KH, KW, I]
    _emit_conv(
        ctx,
        op,
        np.transpose(weight_ohwi, (0, 3, 1, 2)),
        group=1,
        strides=(options.StrideH(), options.StrideW()),
        dilations=(options.DilationHFactor(), options.DilationWFactor()),
        padding=options.Padding(),
        activation=options.FusedActivationFunction(),
    )


@register("DEPTHWISE_CONV_2D")
def depthwise_conv_2d(ctx: ConversionContext, op: Operator) -> None:
    options = op.builtin_options(tflite.DepthwiseConv2DOptions)
    weight = ctx.constant(op.inputs[1])  # TFLite filter [1, KH, KW, C * multiplier]
    channels = ctx.tensor(op.inputs[0]).shape[3]
    # ONNX grouped conv with group = C: weight [C * multiplier, 1, KH, KW]; output channel
    # c * multiplier + m reads input channel c, matching TFLite's channel order.
    _emit_conv(
        ctx,
        op,
        np.transpose(weight, (3, 0, 1, 2)),
        group=channels,
        strides=(options.StrideH(), options.StrideW()),
        dilations=(options.DilationHFactor(), options.DilationWFactor()),
        padding=options.Padding(),
        activation=options.FusedActivationFunction(),
    )
