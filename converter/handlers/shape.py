"""PAD, RESHAPE, STRIDED_SLICE, TRANSPOSE and CONCATENATION: shape ops that keep the batch
dimension dynamic."""

from __future__ import annotations

import numpy as np
import tflite

from converter.context import NCHW_TO_NHWC, NHWC_TO_NCHW, ConversionContext
from converter.errors import UnsupportedOpError
from converter.handlers.common import fused_activation
from converter.registry import register
from converter.tflite_model import Operator


@register("PAD")
def pad(ctx: ConversionContext, op: Operator) -> None:
    paddings = np.asarray(ctx.constant(op.inputs[1]), dtype=np.int64)  # [rank, 2], NHWC order
    if paddings[0].any():
        raise UnsupportedOpError("PAD", "padding the batch dimension is not supported")
    source = ctx.value(op.inputs[0])
    output = ctx.tensor(op.outputs[0])
    if source.layout == "NCHW":
        paddings = paddings[list(NHWC_TO_NCHW)]
    pads = ctx.int64s([*paddings[:, 0].tolist(), *paddings[:, 1].tolist()], output.name)
    result = ctx.node("Pad", [source.name, pads], output.name, mode="constant")
    ctx.set_value(op.outputs[0], result, source.layout, source.dtype)


@register("RESHAPE")
def reshape(ctx: ConversionContext, op: Operator) -> None:
    source_shape = ctx.tensor(op.inputs[0]).shape
    output = ctx.tensor(op.outputs[0])
    if source_shape[:1] != (1,) or output.shape[:1] != (1,):
        raise UnsupportedOpError("RESHAPE", f"{output.name}: batch must stay the leading axis")
    source = ctx.value(op.inputs[0])
    # An NCHW [N, C, 1, 1] tensor flattens exactly like NHWC [N, 1, 1, C]: no transpose needed.
    spatial_is_unit = len(source_shape) == 4 and source_shape[1:3] == (1, 1)
    data = (
        source.name if source.layout != "NCHW" or spatial_is_unit else ctx.as_tflite(op.inputs[0])
    )
    target = ctx.int64s([0, *output.shape[1:]], output.name)  # 0 = keep the batch size
    result = ctx.node("Reshape", [data, target], output.name)
    ctx.set_value(op.outputs[0], result, "TFLITE", source.dtype)


@register("STRIDED_SLICE")
def strided_slice(ctx: ConversionContext, op: Operator) -> None:
    options = op.builtin_options(tflite.StridedSliceOptions)
    if options.EllipsisMask() or options.NewAxisMask() or options.ShrinkAxisMask():
        raise UnsupportedOpError(
            "STRIDED_SLICE", "ellipsis/new-axis/shrink masks are not supported"
        )
    shape = ctx.tensor(op.inputs[0]).shape
    begin, end, strides = (ctx.constant(i).astype(np.int64).tolist() for i in op.inputs[1:4])
    starts, ends, axes, steps = [], [], [], []
    for axis, size in enumerate(shape):
        step = strides[axis]
        if step <= 0:
            raise UnsupportedOpError("STRIDED_SLICE", "only positive strides are supported")
        start = 0 if options.BeginMask() & (1 << axis) else begin[axis]
        stop = size if options.EndMask() & (1 << axis) else end[axis]
        start, stop = (v + size if v < 0 else v for v in (start, stop))
        if start == 0 and stop >= size and step == 1:
            continue  # whole axis: leave it alone (keeps the batch axis dynamic)
        if axis == 0:
            raise UnsupportedOpError("STRIDED_SLICE", "slicing the batch axis is not supported")
        starts.append(start)
        ends.append(stop)
        axes.append(axis)
        steps.append(step)
    source = ctx.value(op.inputs[0])
    if not axes:  # an identity slice (the model's output_mesh_identity): alias the input
        ctx.set_value(op.outputs[0], source.name, source.layout, source.dtype)
        return
    name = ctx.tensor(op.outputs[0]).name
    result = ctx.node(
        "Slice",
        [ctx.as_tflite(op.inputs[0]), *(ctx.int64s(v, name) for v in (starts, ends, axes, steps))],
        name,
    )
    ctx.set_value(op.outputs[0], result, "TFLITE", source.dtype)


@register("TRANSPOSE")
def transpose(ctx: ConversionContext, op: Operator) -> None:
    """A constant permutation that keeps the batch axis first. An NCHW input is permuted
    straight to the TFLite result (one Transpose, no relayout first)."""
    if not ctx.is_constant(op.inputs[1]):
        raise UnsupportedOpError("TRANSPOSE", "only a constant permutation is supported")
    perm = [int(p) for p in ctx.constant(op.inputs[1])]
    if perm[0] != 0:
        raise UnsupportedOpError("TRANSPOSE", "moving the batch axis is not supported")
    source = ctx.value(op.inputs[0])
    onnx_perm = [NCHW_TO_NHWC[axis] for axis in perm] if source.layout == "NCHW" else perm
    name = ctx.tensor(op.outputs[0]).name
    result = ctx.node("Transpose", [source.name], name, perm=onnx_perm)
    ctx.set_value(op.outputs[0], result, "TFLITE", source.dtype)


def _batch_broadcast(ctx: ConversionContext, constant: np.ndarray, like: str, hint: str) -> str:
    """A batch-1 constant repeated to the batch size of the ONNX value ``like``."""
    batch = ctx.node("Shape", [like], f"{hint}_batch", start=0, end=1)
    shape = ctx.node("Concat", [batch, ctx.int64s(list(constant.shape[1:]), hint)], hint, axis=0)
    return ctx.node("Expand", [ctx.const(constant, hint), shape], f"{hint}_expanded")


@register("CONCATENATION")
def concatenation(ctx: ConversionContext, op: Operator) -> None:
    options = op.builtin_options(tflite.ConcatenationOptions)
    output = ctx.tensor(op.outputs[0])
    rank = len(output.shape)
    axis = options.Axis() % rank
    if axis == 0:
        raise UnsupportedOpError("CONCATENATION", "concatenating along the batch axis")
    variables = [i for i in op.inputs if not ctx.is_constant(i)]
    if not variables:
        raise UnsupportedOpError("CONCATENATION", f"{output.name}: only constant inputs")
    values = [ctx.value(i) for i in variables]
    use_nchw = rank == 4 and all(v.layout == "NCHW" for v in values)
    dtype = values[0].dtype
    like = ctx.as_nchw(variables[0]) if use_nchw else ctx.as_tflite(variables[0])

    def operand(index: int) -> str:
        if not ctx.is_constant(index):
            return ctx.as_nchw(index) if use_nchw else ctx.as_tflite(index)
        # A constant (e.g. a learnt token) has batch 1: repeat it to the data's batch.
        constant = np.asarray(ctx.constant(index), dtype=np.float32).astype(dtype)
        if constant.shape[:1] != (1,):
            raise UnsupportedOpError("CONCATENATION", f"{output.name}: constant without batch 1")
        if use_nchw:
            constant = np.transpose(constant, NHWC_TO_NCHW)
        return _batch_broadcast(ctx, constant, like, output.name)

    inputs = [operand(i) for i in op.inputs]
    result = ctx.node(
        "Concat", inputs, output.name, axis=NHWC_TO_NCHW.index(axis) if use_nchw else axis
    )
    result = fused_activation(ctx, result, options.FusedActivationFunction(), output.name)
    ctx.set_value(op.outputs[0], result, "NCHW" if use_nchw else "TFLITE", dtype)
