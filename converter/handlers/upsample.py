"""Upsampling ops: RESIZE_BILINEAR -> ONNX Resize (linear), DEPTH_TO_SPACE -> DepthToSpace.

RESIZE_BILINEAR keeps TFLite's coordinate conventions:
TFLite maps an output pixel to the input by ``align_corners`` (corner pixels coincide),
``half_pixel_centers`` (``(x + 0.5) * in / out - 0.5``), or neither (``x * in / out``); these
are ONNX's ``align_corners``, ``half_pixel`` and ``asymmetric`` coordinate modes.
"""

from __future__ import annotations

import tflite

from converter.context import ConversionContext
from converter.errors import UnsupportedOpError
from converter.registry import register
from converter.tflite_model import Operator


@register("RESIZE_BILINEAR")
def resize_bilinear(ctx: ConversionContext, op: Operator) -> None:
    options = op.builtin_options(tflite.ResizeBilinearOptions)
    if not ctx.is_constant(op.inputs[1]):
        raise UnsupportedOpError("RESIZE_BILINEAR", "only a constant output size is supported")
    height, width = (int(v) for v in ctx.constant(op.inputs[1]).reshape(-1))
    if options.AlignCorners() and options.HalfPixelCenters():
        raise UnsupportedOpError(
            "RESIZE_BILINEAR", "align_corners and half_pixel_centers are both set"
        )
    if options.AlignCorners():
        mode = "align_corners"
    elif options.HalfPixelCenters():
        mode = "half_pixel"
    else:
        mode = "asymmetric"
    output = ctx.tensor(op.outputs[0])
    source = ctx.as_nchw(op.inputs[0])
    # Output sizes [N, C, height, width], N and C read at run time (any batch size).
    batch_channels = ctx.node(
        "Slice",
        [
            ctx.node("Shape", [source], f"{output.name}_shape"),
            ctx.int64s([0], f"{output.name}_start"),
            ctx.int64s([2], f"{output.name}_end"),
        ],
        f"{output.name}_nc",
    )
    sizes = ctx.node(
        "Concat",
        [batch_channels, ctx.int64s([height, width], f"{output.name}_hw")],
        f"{output.name}_sizes",
        axis=0,
    )
    resized = ctx.node(
        "Resize",
        [source, "", "", sizes],
        output.name,
        mode="linear",
        coordinate_transformation_mode=mode,
    )
    ctx.set_value(op.outputs[0], resized, "NCHW", ctx.value(op.inputs[0]).dtype)


@register("DEPTH_TO_SPACE")
def depth_to_space(ctx: ConversionContext, op: Operator) -> None:
    """TFLite (as TF) orders the moved channels as (row, column, channel): ONNX's DCR mode."""
    options = op.builtin_options(tflite.DepthToSpaceOptions)
    output = ctx.tensor(op.outputs[0])
    moved = ctx.node(
        "DepthToSpace",
        [ctx.as_nchw(op.inputs[0])],
        output.name,
        blocksize=int(options.BlockSize()),
        mode="DCR",
    )
    ctx.set_value(op.outputs[0], moved, "NCHW", ctx.value(op.inputs[0]).dtype)
