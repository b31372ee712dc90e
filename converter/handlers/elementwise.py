"""ADD, MUL, SUB, DIV and SQUARED_DIFFERENCE -> ONNX with TFLite broadcasting, layout-aware."""

from __future__ import annotations

from typing import Any

import numpy as np
import tflite

from converter.context import NHWC_TO_NCHW, ConversionContext
from converter.handlers.common import fused_activation
from converter.registry import register
from converter.tflite_model import Operator


def _constant_operand(
    ctx: ConversionContext, index: int, layout: str, dtype: np.dtype[Any], hint: str
) -> str:
    """A constant operand in ``dtype``, re-laid out to NCHW when the other operand is NCHW."""
    array = np.asarray(ctx.constant(index), dtype=np.float32)
    if layout == "NCHW" and array.ndim > 0:
        array = np.transpose(array.reshape((1,) * (4 - array.ndim) + array.shape), NHWC_TO_NCHW)
    return ctx.const(array.astype(dtype), hint)


def _binary(ctx: ConversionContext, op: Operator, onnx_op: str, activation: int) -> None:
    lhs, rhs = op.inputs[:2]
    output = ctx.tensor(op.outputs[0])
    variables = [i for i in (lhs, rhs) if not ctx.is_constant(i)]
    if not variables:
        raise ValueError(f"{op.builtin} #{op.index} has only constant inputs (not folded)")
    four_d = all(len(ctx.tensor(i).shape) == 4 for i in variables)
    use_nchw = four_d and any(ctx.value(i).layout == "NCHW" for i in variables)
    layout = "NCHW" if use_nchw else "TFLITE"
    dtype = ctx.value(variables[0]).dtype  # operands follow the first variable's dtype

    def operand(index: int) -> str:
        if ctx.is_constant(index):
            return _constant_operand(ctx, index, layout, dtype, output.name)
        name = ctx.as_nchw(index) if use_nchw else ctx.as_tflite(index)
        if ctx.value(index).dtype != dtype:
            name = ctx.cast(name, dtype, output.name)
        return name

    result = ctx.node(onnx_op, [operand(lhs), operand(rhs)], output.name)
    result = fused_activation(ctx, result, activation, output.name)
    ctx.set_value(op.outputs[0], result, layout, dtype)


@register("ADD")
def add(ctx: ConversionContext, op: Operator) -> None:
    options = op.builtin_options(tflite.AddOptions)
    _binary(ctx, op, "Add", options.FusedActivationFunction())


@register("MUL")
def mul(ctx: ConversionContext, op: Operator) -> None:
    options = op.builtin_options(tflite.MulOptions)
    _binary(ctx, op, "Mul", options.FusedActivationFunction())


@register("SUB")
def sub(ctx: ConversionContext, op: Operator) -> None:
    options = op.builtin_options(tflite.SubOptions)
    _binary(ctx, op, "Sub", options.FusedActivationFunction())


@register("DIV")
def div(ctx: ConversionContext, op: Operator) -> None:
    options = op.builtin_options(tflite.DivOptions)
    _binary(ctx, op, "Div", options.FusedActivationFunction())


@register("SQUARED_DIFFERENCE")
def squared_difference(ctx: ConversionContext, op: Operator) -> None:
    """(a - b)^2, written as Sub then Mul of the difference with itself (exact)."""
    _binary(ctx, op, "Sub", tflite.ActivationFunctionType.NONE)
    difference = ctx.value(op.outputs[0])
    squared = ctx.node(
        "Mul", [difference.name, difference.name], f"{ctx.tensor(op.outputs[0]).name}_sq"
    )
    ctx.set_value(op.outputs[0], squared, difference.layout, difference.dtype)
