"""Conversion driver: TFLite model -> one standard-ONNX graph honouring the model contract."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
from onnx import TensorProto, helper

import converter.handlers  # noqa: F401  (registers every handler)
from converter.context import NHWC_TO_NCHW, ConversionContext
from converter.models import SPECS, ConversionSpec
from converter.registry import lookup
from converter.tflite_model import Operator, TFLiteModel

OPSET = 17
IR_VERSION = 8  # widely deployable (ONNX Runtime >= 1.13, Triton's onnxruntime backend)


def _image_input(ctx: ConversionContext, spec: ConversionSpec, index: int) -> onnx.ValueInfoProto:
    """uint8 NHWC -> NCHW once, then [0, 255] -> the model's float range (ImageToTensor)."""
    _, height, width, channels = ctx.tensor(index).shape
    compute = ctx.compute_dtype
    nchw = ctx.node("Transpose", [spec.input_name], "image_nchw", perm=list(NHWC_TO_NCHW))
    low, high = spec.input_range
    scaled = ctx.node(
        "Mul",
        [ctx.cast(nchw, compute, "image"), ctx.const((high - low) / 255.0, "scale", dtype=compute)],
        "image_scaled",
    )
    if low != 0.0:
        scaled = ctx.node("Add", [scaled, ctx.const(low, "offset", dtype=compute)], "image_offset")
    ctx.set_value(index, scaled, "NCHW", compute)
    return helper.make_tensor_value_info(
        spec.input_name, TensorProto.UINT8, ["N", height, width, channels]
    )


def _float_input(ctx: ConversionContext, spec: ConversionSpec, index: int) -> onnx.ValueInfoProto:
    """A float32 input of the TFLite input's shape (batch dynamic), in the compute dtype."""
    source = ctx.tensor(index)
    if source.dtype != np.float32:
        raise ValueError(f"{spec.name}: input {source.name!r} is {source.dtype}, not float32")
    name = spec.input_name
    if ctx.compute_dtype != np.float32:
        name = ctx.cast(name, ctx.compute_dtype, "input")
    ctx.set_value(index, name, "TFLITE", ctx.compute_dtype)
    return helper.make_tensor_value_info(
        spec.input_name, TensorProto.FLOAT, ["N", *source.shape[1:]]
    )


def convert(
    model: TFLiteModel,
    spec: ConversionSpec = SPECS["face_landmark_with_attention"],
    *,
    fp16: bool = False,
    native_prelu: bool = False,
    sampler: str = "gather",
    on_op: Callable[[Operator], None] | None = None,
) -> onnx.ModelProto:
    """Convert ``model`` as described by ``spec``; ``on_op`` is called after each op."""
    ctx = ConversionContext(
        model,
        compute_dtype=np.dtype(np.float16 if fp16 else np.float32),
        native_prelu=native_prelu,
        sampler=sampler,
    )
    if len(model.inputs) != 1:
        raise ValueError(f"expected one model input, found {len(model.inputs)}")
    graph_input = (
        _image_input(ctx, spec, model.inputs[0])
        if spec.image_input
        else _float_input(ctx, spec, model.inputs[0])
    )

    for op in model.operators:
        lookup(op)(ctx, op)
        if on_op is not None:
            on_op(op)
        if spec.stop_after is not None and spec.stop_after in (
            model.tensor(i).name for i in op.outputs
        ):
            break

    outputs = spec.assemble(ctx)
    graph = helper.make_graph(
        ctx.nodes, spec.name, [graph_input], outputs, initializer=ctx.initializers
    )
    onnx_model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="attention-mesh-converter",
        doc_string=f"Converted from TFLite: {model.description}",
    )
    onnx_model.ir_version = IR_VERSION
    onnx.checker.check_model(onnx_model, full_check=True)
    return onnx.shape_inference.infer_shapes(onnx_model, check_type=True, strict_mode=True)
