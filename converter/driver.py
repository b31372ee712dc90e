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
INPUT_NAME = "image"


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
    compute = np.dtype(np.float16 if fp16 else np.float32)
    ctx = ConversionContext(
        model, compute_dtype=compute, native_prelu=native_prelu, sampler=sampler
    )
    if len(model.inputs) != 1:
        raise ValueError(f"expected one model input, found {len(model.inputs)}")
    source = model.tensor(model.inputs[0])
    _, height, width, channels = source.shape

    # uint8 NHWC -> NCHW once, then [0, 255] -> the model's float range (ImageToTensor).
    nchw = ctx.node("Transpose", [INPUT_NAME], "image_nchw", perm=list(NHWC_TO_NCHW))
    low, high = spec.input_range
    scaled = ctx.node(
        "Mul",
        [ctx.cast(nchw, compute, "image"), ctx.const((high - low) / 255.0, "scale", dtype=compute)],
        "image_scaled",
    )
    if low != 0.0:
        scaled = ctx.node("Add", [scaled, ctx.const(low, "offset", dtype=compute)], "image_offset")
    ctx.set_value(model.inputs[0], scaled, "NCHW", compute)

    for op in model.operators:
        lookup(op)(ctx, op)
        if on_op is not None:
            on_op(op)

    outputs = spec.assemble(ctx)
    graph = helper.make_graph(
        ctx.nodes,
        spec.name,
        [
            helper.make_tensor_value_info(
                INPUT_NAME, TensorProto.UINT8, ["N", height, width, channels]
            )
        ],
        outputs,
        initializer=ctx.initializers,
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
