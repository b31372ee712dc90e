"""Named graph outputs built from TFLite output tensors (reshaped, float32, optional sigmoid)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper

from converter.context import ConversionContext
from converter.errors import ConversionError


@dataclass(frozen=True)
class NamedOutput:
    """One graph output: TFLite tensor ``tensor`` reshaped to ``[N, *shape]``."""

    tensor: str
    shape: tuple[int, ...]
    sigmoid: bool = False  # logits -> probabilities


def emit_named(
    ctx: ConversionContext, op_type: str, inputs: list[str], output: str, **attrs: Any
) -> None:
    """A node whose output carries a fixed (graph output) name."""
    ctx.nodes.append(helper.make_node(op_type, inputs, [output], name=output, **attrs))


def float32_flat(ctx: ConversionContext, index: int) -> str:
    """A TFLite tensor as float32 in TFLite element order, ready for a Reshape
    ([N,1,1,K] and [N,K,1,1] flatten identically, so those need no transpose)."""
    value = ctx.value(index)
    shape = ctx.tensor(index).shape
    unit = len(shape) == 4 and shape[1:3] == (1, 1)
    name = value.name if (value.layout == "TFLITE" or unit) else ctx.as_tflite(index)
    if value.dtype != np.float32:
        name = ctx.cast(name, np.dtype(np.float32), "out")
    return name


def emit_outputs(ctx: ConversionContext, outputs: dict[str, NamedOutput]) -> None:
    """Emit every named output from a TFLite tensor the conversion produced (a model output,
    or an inner tensor where the walk stopped); raises if one is missing."""
    by_name = {ctx.tensor(i).name: i for i in ctx.values}
    missing = [spec.tensor for spec in outputs.values() if spec.tensor not in by_name]
    if missing:
        raise ConversionError(f"TFLite model lacks outputs {missing}")
    for name, spec in outputs.items():
        target = ctx.int64s([0, *spec.shape] if spec.shape else [-1], name)
        data = float32_flat(ctx, by_name[spec.tensor])
        if spec.sigmoid:
            logits = ctx.node("Reshape", [data, target], f"{name}_logits")
            emit_named(ctx, "Sigmoid", [logits], name)
        else:
            emit_named(ctx, "Reshape", [data, target], name)


def value_infos(shapes: dict[str, tuple[int, ...]]) -> list[onnx.ValueInfoProto]:
    return [
        helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", *shape])
        for name, shape in shapes.items()
    ]
