"""Sparse TFLite constants (the ``SparsityParameters`` format) expanded to dense arrays.

Facts from the TFLite schema (``schema.fbs``: ``SparsityParameters``, ``DimensionMetadata``):
a sparse tensor stores only its non-zero values; ``traversal_order`` lists the dimensions in
storage order (the original ``n`` dimensions first, then one per block dimension), and
``block_map[k]`` names the original dimension that block dimension ``n + k`` splits. Each
traversed dimension is either DENSE (``dense_size`` entries) or SPARSE_CSR (for every position
of the enclosing dimensions, ``array_segments`` gives the range of ``array_indices`` present).
A value's position in the stored buffer is its leaf position in that traversal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import tflite

from converter.errors import ConversionError

_INDEX_VECTORS: dict[int, Any] = {
    tflite.SparseIndexVector.Int32Vector: tflite.Int32Vector,
    tflite.SparseIndexVector.Uint16Vector: tflite.Uint16Vector,
    tflite.SparseIndexVector.Uint8Vector: tflite.Uint8Vector,
}


@dataclass(frozen=True)
class Dimension:
    """One traversed dimension: ``dense_size`` for DENSE, else CSR segments and indices."""

    dense_size: int
    segments: np.ndarray | None = None
    indices: np.ndarray | None = None


@dataclass(frozen=True)
class Sparsity:
    traversal_order: tuple[int, ...]
    block_map: tuple[int, ...]
    dimensions: tuple[Dimension, ...]


def _index_vector(kind: int, table: Any) -> np.ndarray:
    vector_class = _INDEX_VECTORS.get(kind)
    if vector_class is None or table is None:
        raise ConversionError(f"sparse tensor with an unsupported index vector type {kind}")
    vector = vector_class()
    vector.Init(table.Bytes, table.Pos)
    return np.asarray(vector.ValuesAsNumpy(), dtype=np.int64)


def read_sparsity(entry: Any) -> Sparsity | None:
    """The sparsity parameters of a flatbuffer ``Tensor`` entry, or None for a dense one."""
    params = entry.Sparsity()
    if params is None:
        return None
    dimensions = []
    for j in range(params.DimMetadataLength()):
        meta = params.DimMetadata(j)
        if meta.Format() == tflite.DimensionType.DENSE:
            dimensions.append(Dimension(int(meta.DenseSize())))
        else:
            segments = _index_vector(meta.ArraySegmentsType(), meta.ArraySegments())
            indices = _index_vector(meta.ArrayIndicesType(), meta.ArrayIndices())
            dimensions.append(Dimension(0, segments, indices))
    order = (
        tuple(int(v) for v in params.TraversalOrderAsNumpy())
        if params.TraversalOrderLength()
        else ()
    )
    blocks = tuple(int(v) for v in params.BlockMapAsNumpy()) if params.BlockMapLength() else ()
    return Sparsity(order, blocks, tuple(dimensions))


def densify(values: np.ndarray, shape: tuple[int, ...], sparsity: Sparsity) -> np.ndarray:
    """The dense array of ``shape`` whose non-zero ``values`` (flat, storage order) are laid
    out as ``sparsity`` describes."""
    rank = len(shape)
    order, blocks, dims = sparsity.traversal_order, sparsity.block_map, sparsity.dimensions
    if len(order) != rank + len(blocks) or len(dims) != len(order):
        raise ConversionError("sparse tensor: traversal order does not match its dimensions")
    block_sizes = {blocks[k]: dims[order.index(rank + k)].dense_size for k in range(len(blocks))}
    dense = np.zeros(shape, dtype=values.dtype)
    flat = values.reshape(-1)
    position = [0] * len(order)  # index along each expanded dimension (by dimension id)

    def visit(level: int, parent: int) -> None:
        if level == len(order):
            index = []
            for axis in range(rank):
                inner = block_sizes.get(axis)
                if inner is None:
                    index.append(position[axis])
                else:
                    block_dim = rank + blocks.index(axis)
                    index.append(position[axis] * inner + position[block_dim])
            dense[tuple(index)] = flat[parent]
            return
        dim = dims[level]
        if dim.segments is None or dim.indices is None:
            for i in range(dim.dense_size):
                position[order[level]] = i
                visit(level + 1, parent * dim.dense_size + i)
        else:
            for i in range(int(dim.segments[parent]), int(dim.segments[parent + 1])):
                position[order[level]] = int(dim.indices[i])
                visit(level + 1, i)

    visit(0, 0)
    return dense
