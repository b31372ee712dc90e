"""Conversion driver: TFLite model -> one standard-ONNX graph honouring the model contract."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
from onnx import TensorProto, helper

import converter.handlers  # noqa: F401  (registers every handler)
from converter.context import NHWC_TO_NCHW, ConversionContext
from converter.contract import assemble_outputs
from converter.registry import lookup
from converter.tflite_model import Operator, TFLiteModel

OPSET = 17
IR_VERSION = 8  # widely deployable (ONNX Runtime >= 1.13, Triton's onnxruntime backend)
INPUT_NAME = "image"


def convert(
    model: TFLiteModel,
    *,
    fp16: bool = False,
    native_prelu: bool = False,
    sampler: str = "gather",
    graph_name: str = "facemesh",
    on_op: Callable[[Operator], None] | None = None,
) -> onnx.ModelProto:
    """Convert the attention face-landmark model; ``on_op`` is called after each op (progress)."""
    compute = np.dtype(np.float16 if fp16 else np.float32)
    ctx = ConversionContext(
        model, compute_dtype=compute, native_prelu=native_prelu, sampler=sampler
    )
    if len(model.inputs) != 1:
        raise ValueError(f"expected one model input, found {len(model.inputs)}")
    source = model.tensor(model.inputs[0])
    _, height, width, channels = source.shape

    # uint8 NHWC -> NCHW once, then [0, 255] -> [0, 1] like MediaPipe's ImageToTensor.
    nchw = ctx.node("Transpose", [INPUT_NAME], "image_nchw", perm=list(NHWC_TO_NCHW))
    scaled = ctx.node(
        "Mul",
        [ctx.cast(nchw, compute, "image"), ctx.const(1.0 / 255.0, "scale", dtype=compute)],
        "image_scaled",
    )
    ctx.set_value(model.inputs[0], scaled, "NCHW", compute)

    for op in model.operators:
        lookup(op)(ctx, op)
        if on_op is not None:
            on_op(op)

    outputs = assemble_outputs(ctx)
    graph = helper.make_graph(
        ctx.nodes,
        graph_name,
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
