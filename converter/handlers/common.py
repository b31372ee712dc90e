"""Helpers shared by handlers: padding arithmetic and fused activations."""

from __future__ import annotations

import tflite

from converter.context import ConversionContext
from converter.errors import UnsupportedOpError


def same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TFLite SAME padding for one spatial axis: (before, after); the extra pixel goes after."""
    out = -(-size // stride)
    effective = (kernel - 1) * dilation + 1
    total = max((out - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


def spatial_pads(
    padding: int,
    in_hw: tuple[int, int],
    kernel_hw: tuple[int, int],
    strides: tuple[int, int],
    dilations: tuple[int, int] = (1, 1),
) -> list[int]:
    """ONNX ``pads`` [top, left, bottom, right] for a TFLite Padding enum value."""
    if padding == tflite.Padding.VALID:
        return [0, 0, 0, 0]
    if padding != tflite.Padding.SAME:
        raise UnsupportedOpError("padding", f"unknown TFLite padding {padding}")
    top, bottom = same_padding(in_hw[0], kernel_hw[0], strides[0], dilations[0])
    left, right = same_padding(in_hw[1], kernel_hw[1], strides[1], dilations[1])
    return [top, left, bottom, right]


def fused_activation(ctx: ConversionContext, name: str, code: int, hint: str) -> str:
    """Apply a TFLite fused activation to ``name``; unknown codes fail loudly."""
    kinds = tflite.ActivationFunctionType
    if code == kinds.NONE:
        return name
    if code == kinds.RELU:
        return ctx.node("Relu", [name], f"{hint}_relu")
    if code in (kinds.RELU6, kinds.RELU_N1_TO_1):
        low, high = (0.0, 6.0) if code == kinds.RELU6 else (-1.0, 1.0)
        bounds = [ctx.const(v, f"{hint}_clip", dtype=ctx.compute_dtype) for v in (low, high)]
        return ctx.node("Clip", [name, *bounds], f"{hint}_clip")
    if code == kinds.TANH:
        return ctx.node("Tanh", [name], f"{hint}_tanh")
    raise UnsupportedOpError("fused_activation", f"activation code {code} on {hint}")
