"""Reads a .tflite flatbuffer into plain typed records (numpy inside, no TFLite runtime)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import tflite
from flatbuffers import flexbuffers

from converter.errors import ConversionError
from converter.sparsity import Sparsity, densify, read_sparsity

_TFLITE_DTYPES: dict[int, np.dtype[Any]] = {
    tflite.TensorType.FLOAT32: np.dtype(np.float32),
    tflite.TensorType.FLOAT16: np.dtype(np.float16),
    tflite.TensorType.INT32: np.dtype(np.int32),
    tflite.TensorType.UINT8: np.dtype(np.uint8),
    tflite.TensorType.INT64: np.dtype(np.int64),
    tflite.TensorType.INT8: np.dtype(np.int8),
    tflite.TensorType.BOOL: np.dtype(np.bool_),
}

_BUILTIN_NAMES: dict[int, str] = {
    value: name for name, value in vars(tflite.BuiltinOperator).items() if name.isupper()
}

OptionsT = TypeVar("OptionsT")


@dataclass(frozen=True)
class Tensor:
    """One TFLite tensor. ``data`` is set for constants (buffers with bytes)."""

    index: int
    name: str
    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    data: np.ndarray | None


@dataclass(frozen=True)
class Operator:
    """One TFLite operator with its resolved opcode."""

    index: int
    builtin: str  # e.g. "CONV_2D", or "CUSTOM"
    custom_code: str | None
    version: int
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    raw: Any = field(repr=False)
    custom_options: dict[str, Any] | None = None

    @property
    def key(self) -> str:
        """Registry key: the builtin name, or ``CUSTOM:<code>:v<version>``."""
        if self.builtin == "CUSTOM":
            return f"CUSTOM:{self.custom_code}:v{self.version}"
        return self.builtin

    def builtin_options(self, options_class: type[OptionsT]) -> OptionsT:
        """The op's builtin options table decoded as ``options_class`` (e.g. Conv2DOptions)."""
        table = self.raw.BuiltinOptions()
        if table is None:
            raise ValueError(f"op {self.index} ({self.builtin}) has no builtin options")
        options = options_class()
        options.Init(table.Bytes, table.Pos)  # type: ignore[attr-defined]
        return options


@dataclass(frozen=True)
class TFLiteModel:
    """The main subgraph of a TFLite model."""

    description: str
    tensors: tuple[Tensor, ...]
    operators: tuple[Operator, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]

    def tensor(self, index: int) -> Tensor:
        return self.tensors[index]


def _buffer_array(
    model: Any,
    buffer_index: int,
    raw: bytes,
    shape: tuple[int, ...],
    dtype: np.dtype[Any],
    sparsity: Sparsity | None = None,
) -> np.ndarray | None:
    buffer = model.Buffers(buffer_index)
    if buffer is None:
        return None
    offset, size = buffer.Offset(), buffer.Size()
    if offset > 1:  # large models keep buffers after the flatbuffer
        data = np.frombuffer(raw, dtype=np.uint8, count=size, offset=offset)
    elif buffer.DataLength() > 0:
        data = buffer.DataAsNumpy()
    else:
        return None
    values = np.frombuffer(data.tobytes(), dtype=dtype)
    if sparsity is not None:
        return densify(values, shape, sparsity)
    return values.reshape(shape).copy()


def read_tflite(raw: bytes) -> TFLiteModel:
    """Parse the flatbuffer bytes of a single-subgraph TFLite model."""
    try:
        model = tflite.Model.GetRootAsModel(raw, 0)
        subgraphs = model.SubgraphsLength()
    except Exception as error:  # the flatbuffer reader raises assorted low-level errors
        raise ConversionError(f"not a TFLite flatbuffer: {error}") from error
    if subgraphs != 1:
        raise ConversionError(f"expected one TFLite subgraph, found {subgraphs}")
    graph = model.Subgraphs(0)

    tensors = []
    for index in range(graph.TensorsLength()):
        entry = graph.Tensors(index)
        shape = tuple(int(d) for d in entry.ShapeAsNumpy()) if entry.ShapeLength() else ()
        dtype = _TFLITE_DTYPES.get(entry.Type())
        if dtype is None:
            raise ConversionError(f"tensor {entry.Name()!r} has unsupported type {entry.Type()}")
        data = _buffer_array(model, entry.Buffer(), raw, shape, dtype, read_sparsity(entry))
        tensors.append(Tensor(index, entry.Name().decode(), shape, dtype, data))

    operators = []
    for index in range(graph.OperatorsLength()):
        op = graph.Operators(index)
        code = model.OperatorCodes(op.OpcodeIndex())
        builtin = _BUILTIN_NAMES[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())]
        custom_code = code.CustomCode().decode() if code.CustomCode() else None
        custom_options = None
        if builtin == "CUSTOM" and op.CustomOptionsLength() > 0:
            custom_options = flexbuffers.Loads(op.CustomOptionsAsNumpy().tobytes())
        operators.append(
            Operator(
                index=index,
                builtin=builtin,
                custom_code=custom_code,
                version=int(code.Version()),
                inputs=tuple(int(i) for i in op.InputsAsNumpy()) if op.InputsLength() else (),
                outputs=tuple(int(i) for i in op.OutputsAsNumpy()),
                raw=op,
                custom_options=custom_options,
            )
        )

    return TFLiteModel(
        description=(model.Description() or b"").decode(),
        tensors=tuple(tensors),
        operators=tuple(operators),
        inputs=tuple(int(i) for i in graph.InputsAsNumpy()),
        outputs=tuple(int(i) for i in graph.OutputsAsNumpy()),
    )
