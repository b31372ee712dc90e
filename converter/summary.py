"""Model summary: op counts, parameters and multiply-accumulates (batch 1)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import numpy_helper

from converter.tflite_model import TFLiteModel


@dataclass(frozen=True)
class ModelSummary:
    op_counts: dict[str, int]
    parameters: int
    macs: int

    def format(self) -> str:
        ops = ", ".join(
            f"{op} {n}" for op, n in sorted(self.op_counts.items(), key=lambda x: -x[1])
        )
        return (
            f"nodes: {sum(self.op_counts.values())} ({ops})\n"
            f"ONNX float initializer values: {self.parameters:,}\nMACs (batch 1): {self.macs:,}"
        )


def tflite_parameters(model: TFLiteModel) -> int:
    """Weights stored in the TFLite file (float constants), the model's own parameter count."""
    return sum(t.data.size for t in model.tensors if t.data is not None and t.dtype.kind == "f")


def _static_shapes(model: onnx.ModelProto) -> dict[str, tuple[int, ...]]:
    """Shapes of every value with the batch dimension set to 1."""
    fixed = onnx.ModelProto()
    fixed.CopyFrom(model)
    for value in fixed.graph.input:
        dims = value.type.tensor_type.shape.dim
        if dims and dims[0].dim_param:
            dims[0].dim_value = 1
    inferred = onnx.shape_inference.infer_shapes(fixed)
    shapes = {}
    for value in [*inferred.graph.value_info, *inferred.graph.output, *inferred.graph.input]:
        dims = value.type.tensor_type.shape.dim
        shapes[value.name] = tuple(d.dim_value if d.dim_value else 1 for d in dims)
    return shapes


def summarize(model: onnx.ModelProto) -> ModelSummary:
    weights = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    parameters = sum(int(w.size) for w in weights.values() if w.dtype.kind == "f")
    shapes = _static_shapes(model)
    macs = 0
    for node in model.graph.node:
        if node.op_type == "Conv":
            kernel = weights[node.input[1]].shape  # [O, I/group, KH, KW]
            macs += int(np.prod(shapes[node.output[0]][1:])) * int(np.prod(kernel[1:]))
        elif node.op_type == "MatMul":
            lhs = shapes.get(node.input[0]) or weights[node.input[0]].shape
            macs += int(np.prod(shapes[node.output[0]])) * int(lhs[-1])
    return ModelSummary(dict(Counter(n.op_type for n in model.graph.node)), parameters, macs)
