"""Runs one converter handler on its own: a single-op TFLite graph -> ONNX -> ONNX Runtime."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper

from converter.context import ConversionContext, onnx_dtype
from converter.driver import IR_VERSION, OPSET
from converter.registry import lookup
from converter.tflite_model import Operator, Tensor, TFLiteModel


def run_single_op(
    builtin: str,
    custom_code: str | None,
    version: int,
    inputs: list[np.ndarray],
    output_shapes: list[tuple[int, ...]],
    custom_options: dict[str, Any] | None = None,
    batch: int = 1,
) -> list[np.ndarray]:
    """Inputs carry a leading batch axis of ``batch``; the TFLite shapes use batch 1."""
    tensors = [Tensor(i, f"in{i}", (1, *a.shape[1:]), a.dtype, None) for i, a in enumerate(inputs)]
    first_out = len(tensors)
    tensors += [
        Tensor(first_out + i, f"out{i}", s, np.dtype(np.float32), None)
        for i, s in enumerate(output_shapes)
    ]
    op = Operator(
        0,
        builtin,
        custom_code,
        version,
        tuple(range(len(inputs))),
        tuple(range(first_out, len(tensors))),
        raw=None,
        custom_options=custom_options,
    )
    model = TFLiteModel("single op", tuple(tensors), (op,), op.inputs, op.outputs)
    ctx = ConversionContext(model)
    for i, array in enumerate(inputs):
        ctx.set_value(i, f"in{i}", "TFLITE", array.dtype)
    lookup(op)(ctx, op)
    outputs = [
        ctx.node("Identity", [ctx.as_tflite(i)], f"out{k}") for k, i in enumerate(op.outputs)
    ]
    graph = helper.make_graph(
        ctx.nodes,
        "single_op",
        [
            helper.make_tensor_value_info(f"in{i}", onnx_dtype(a.dtype), list(a.shape))
            for i, a in enumerate(inputs)
        ],
        [
            helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, ["N", *shape[1:]])
            for name, shape in zip(outputs, output_shapes, strict=True)
        ],
        initializer=ctx.initializers,
    )
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    onnx_model.ir_version = IR_VERSION
    onnx.checker.check_model(onnx_model)
    session = ort.InferenceSession(
        onnx_model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    results: list[np.ndarray] = session.run(outputs, {f"in{i}": a for i, a in enumerate(inputs)})
    return results
