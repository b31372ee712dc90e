"""Runs one converter handler on its own: a single-op TFLite graph -> ONNX -> ONNX Runtime."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flatbuffers
import numpy as np
import onnx
import onnxruntime as ort
from flatbuffers.table import Table
from onnx import helper

from converter.context import NHWC_TO_NCHW, ConversionContext, onnx_dtype
from converter.driver import IR_VERSION, OPSET
from converter.registry import lookup
from converter.tflite_model import Operator, Tensor, TFLiteModel

OptionsWriter = Callable[[flatbuffers.Builder], int]


class _RawOperator:
    """Stands in for the flatbuffer operator: only its builtin options table is read."""

    def __init__(self, table: Table | None) -> None:
        self._table = table

    def BuiltinOptions(self) -> Table | None:  # noqa: N802  (the flatbuffer API's name)
        return self._table


def builtin_options(write: OptionsWriter | None) -> _RawOperator:
    """A raw operator whose options table is what ``write`` builds (e.g. with
    ``tflite.ReducerOptionsStart``/``...AddKeepDims``/``...End``); ``None``: no options."""
    if write is None:
        return _RawOperator(None)
    builder = flatbuffers.Builder(64)
    builder.Finish(write(builder))
    data = bytes(builder.Output())
    position = flatbuffers.encode.Get(flatbuffers.packer.uoffset, data, 0)
    return _RawOperator(Table(bytearray(data), position))


def run_single_op(
    builtin: str,
    custom_code: str | None,
    version: int,
    inputs: list[np.ndarray],
    output_shapes: list[tuple[int, ...]],
    custom_options: dict[str, Any] | None = None,
    batch: int = 1,
    constants: list[np.ndarray] | None = None,
    options: OptionsWriter | None = None,
    layout: str = "TFLITE",
) -> list[np.ndarray]:
    """Inputs carry a leading batch axis of ``batch``; the TFLite shapes use batch 1.
    ``constants`` follow the inputs as constant TFLite tensors (axes, permutations, weights);
    ``options`` writes the op's builtin options; with ``layout="NCHW"`` every 4-D input is fed
    to the handler as the converter's NCHW value (transposed), checking layout handling."""
    constants = constants or []
    tensors = [Tensor(i, f"in{i}", (1, *a.shape[1:]), a.dtype, None) for i, a in enumerate(inputs)]
    tensors += [
        Tensor(len(tensors) + k, f"const{k}", c.shape, c.dtype, c) for k, c in enumerate(constants)
    ]
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
        tuple(range(first_out)),
        tuple(range(first_out, len(tensors))),
        raw=builtin_options(options),
        custom_options=custom_options,
    )
    model = TFLiteModel("single op", tuple(tensors), (op,), tuple(range(len(inputs))), op.outputs)
    ctx = ConversionContext(model)
    for i, array in enumerate(inputs):
        if layout == "NCHW" and array.ndim == 4:
            nchw = ctx.node("Transpose", [f"in{i}"], f"in{i}_nchw", perm=list(NHWC_TO_NCHW))
            ctx.set_value(i, nchw, "NCHW", array.dtype)
        else:
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
