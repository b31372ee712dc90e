"""Conversion context: ONNX graph builder with NHWC/NCHW layout and dtype tracking.

TFLite tensors are NHWC. Convolutions are emitted in ONNX's NCHW layout; a 4-D activation
produced by a layout-aware handler is kept in NCHW and marked so. A consumer that needs TFLite's
NHWC semantics (e.g. a RESHAPE that mixes spatial and channel axes) asks for ``as_nhwc`` and
gets a Transpose only then. The input is transposed once.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from converter.tflite_model import Operator, Tensor, TFLiteModel

NHWC_TO_NCHW = (0, 3, 1, 2)
NCHW_TO_NHWC = (0, 2, 3, 1)

_ONNX_DTYPES: dict[np.dtype[Any], int] = {
    np.dtype(np.float32): TensorProto.FLOAT,
    np.dtype(np.float16): TensorProto.FLOAT16,
    np.dtype(np.int32): TensorProto.INT32,
    np.dtype(np.int64): TensorProto.INT64,
    np.dtype(np.uint8): TensorProto.UINT8,
    np.dtype(np.bool_): TensorProto.BOOL,
}


def onnx_dtype(dtype: np.dtype[Any]) -> int:
    return _ONNX_DTYPES[np.dtype(dtype)]


@dataclass
class Value:
    """A produced ONNX value standing for a TFLite tensor."""

    name: str
    layout: str  # "NCHW" (4-D, transposed from TFLite's NHWC) or "TFLITE" (as in TFLite)
    dtype: np.dtype[Any]


@dataclass
class ConversionContext:
    """Accumulates ONNX nodes/initializers while the driver walks the TFLite graph."""

    model: TFLiteModel
    compute_dtype: np.dtype[Any] = field(default_factory=lambda: np.dtype(np.float32))
    native_prelu: bool = False  # emit ONNX PRelu instead of the faster decomposed form
    sampler: str = "gather"  # TransformTensorBilinear as "gather" or "gridsample"
    nodes: list[onnx.NodeProto] = field(default_factory=list)
    initializers: list[onnx.TensorProto] = field(default_factory=list)
    values: dict[int, Value] = field(default_factory=dict)
    constants: dict[int, np.ndarray] = field(default_factory=dict)
    # Per custom-op records the driver uses to assemble the contract outputs.
    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _counter: itertools.count[int] = field(default_factory=itertools.count)
    _relaid: dict[tuple[int, str], str] = field(default_factory=dict)  # one transpose per tensor

    # ----- naming -------------------------------------------------------------------------
    def fresh(self, hint: str) -> str:
        return f"{hint.replace('/', '_')}__{next(self._counter)}"

    # ----- emitting -----------------------------------------------------------------------
    def node(self, op_type: str, inputs: list[str], hint: str, **attrs: Any) -> str:
        """Add a single-output node; returns the output name."""
        output = self.fresh(hint)
        self.nodes.append(helper.make_node(op_type, inputs, [output], name=output, **attrs))
        return output

    def const(
        self, array: np.ndarray | float | int | list[Any], hint: str, dtype: Any = None
    ) -> str:
        """Add an initializer (numpy array converted as given, or to ``dtype``)."""
        value = np.asarray(array, dtype=dtype)
        name = self.fresh(f"{hint}_const")
        self.initializers.append(numpy_helper.from_array(value, name))
        return name

    def weight(self, array: np.ndarray, hint: str) -> str:
        """A model weight, stored in the compute dtype (fp32, or fp16 with --fp16)."""
        return self.const(np.asarray(array, dtype=np.float32).astype(self.compute_dtype), hint)

    def int64s(self, values: list[int] | tuple[int, ...], hint: str) -> str:
        return self.const(np.asarray(values, dtype=np.int64), hint)

    def cast(self, name: str, dtype: np.dtype[Any], hint: str) -> str:
        return self.node("Cast", [name], f"{hint}_cast", to=onnx_dtype(dtype))

    # ----- TFLite tensor bookkeeping ------------------------------------------------------
    def tensor(self, index: int) -> Tensor:
        return self.model.tensor(index)

    def is_constant(self, index: int) -> bool:
        return index in self.constants or self.tensor(index).data is not None

    def constant(self, index: int) -> np.ndarray:
        """Value of a constant tensor (folded DEQUANTIZE results included)."""
        if index in self.constants:
            return self.constants[index]
        data = self.tensor(index).data
        if data is None:
            raise KeyError(f"tensor {self.tensor(index).name!r} is not constant")
        return data

    def set_value(self, index: int, name: str, layout: str, dtype: np.dtype[Any]) -> None:
        self.values[index] = Value(name, layout, np.dtype(dtype))

    def value(self, index: int) -> Value:
        if index not in self.values:
            if self.is_constant(index):
                data = self.constant(index)
                dtype = self.compute_dtype if data.dtype.kind == "f" else data.dtype
                name = self.const(data.astype(dtype), self.tensor(index).name)
                self.set_value(index, name, "TFLITE", dtype)
            else:
                raise KeyError(f"tensor {self.tensor(index).name!r} has not been produced yet")
        return self.values[index]

    def as_nchw(self, index: int) -> str:
        """The tensor as an NCHW ONNX value (transposing a TFLite-layout 4-D tensor)."""
        value = self.value(index)
        if value.layout == "NCHW":
            return value.name
        return self._relayout(index, "NCHW", NHWC_TO_NCHW)

    def as_tflite(self, index: int) -> str:
        """The tensor in TFLite's own layout (NHWC for 4-D activations)."""
        value = self.value(index)
        if value.layout == "TFLITE":
            return value.name
        return self._relayout(index, "TFLITE", NCHW_TO_NHWC)

    def _relayout(self, index: int, layout: str, perm: tuple[int, ...]) -> str:
        """Transpose a tensor once, however many consumers need the other layout."""
        key = (index, layout)
        if key not in self._relaid:
            hint = f"{self.tensor(index).name}_{layout.lower()}"
            self._relaid[key] = self.node(
                "Transpose", [self.value(index).name], hint, perm=list(perm)
            )
        return self._relaid[key]

    def as_float32(self, index: int) -> str:
        """The tensor in TFLite layout and float32 (custom-op maths always runs in fp32)."""
        name = self.as_tflite(index)
        value = self.value(index)
        if value.dtype != np.float32:
            name = self.cast(name, np.dtype(np.float32), "fp32")
        return name

    def record(self, kind: str, op: Operator, **info: Any) -> None:
        self.records.setdefault(kind, []).append({"op": op.index, **info})
