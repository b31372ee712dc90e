"""Element-wise one-input ops: NEG, SQRT, RSQRT, LOGISTIC (layout and dtype pass through)."""

from __future__ import annotations

from converter.context import ConversionContext
from converter.registry import register
from converter.tflite_model import Operator


def _unary(ctx: ConversionContext, op: Operator, onnx_ops: tuple[str, ...]) -> None:
    """Apply ``onnx_ops`` in turn to the input, in whatever layout it already has."""
    source = ctx.value(op.inputs[0])
    name = ctx.tensor(op.outputs[0]).name
    result = source.name
    for onnx_op in onnx_ops:
        result = ctx.node(onnx_op, [result], f"{name}_{onnx_op.lower()}")
    ctx.set_value(op.outputs[0], result, source.layout, source.dtype)


@register("NEG")
def neg(ctx: ConversionContext, op: Operator) -> None:
    _unary(ctx, op, ("Neg",))


@register("SQRT")
def sqrt(ctx: ConversionContext, op: Operator) -> None:
    _unary(ctx, op, ("Sqrt",))


@register("RSQRT")
def rsqrt(ctx: ConversionContext, op: Operator) -> None:
    """1 / sqrt(x) (ONNX has no fused reciprocal square root)."""
    _unary(ctx, op, ("Sqrt", "Reciprocal"))


@register("LOGISTIC")
def logistic(ctx: ConversionContext, op: Operator) -> None:
    _unary(ctx, op, ("Sigmoid",))
