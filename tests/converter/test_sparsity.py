"""Sparse TFLite constants expanded to dense arrays (converter/sparsity.py)."""

from __future__ import annotations

import numpy as np
import pytest

from converter.errors import ConversionError
from converter.sparsity import Dimension, Sparsity, densify


def test_csr_matrix() -> None:
    dense = np.array([[0, 2, 0, 0], [0, 0, 0, 0], [5, 0, 0, 7]], dtype=np.float32)
    sparsity = Sparsity(
        traversal_order=(0, 1),
        block_map=(),
        dimensions=(
            Dimension(3),
            Dimension(0, segments=np.array([0, 1, 1, 3]), indices=np.array([1, 0, 3])),
        ),
    )
    got = densify(np.array([2, 5, 7], dtype=np.float32), dense.shape, sparsity)
    np.testing.assert_array_equal(got, dense)


def test_block_sparse_matrix() -> None:
    """4x4 in 2x2 blocks: block rows dense, block columns CSR, each block dense row-major."""
    dense = np.zeros((4, 4), dtype=np.float32)
    dense[0:2, 2:4] = [[1, 2], [3, 4]]
    dense[2:4, 0:2] = [[5, 6], [7, 8]]
    sparsity = Sparsity(
        traversal_order=(0, 1, 2, 3),
        block_map=(0, 1),
        dimensions=(
            Dimension(2),
            Dimension(0, segments=np.array([0, 1, 2]), indices=np.array([1, 0])),
            Dimension(2),
            Dimension(2),
        ),
    )
    got = densify(np.arange(1, 9, dtype=np.float32), dense.shape, sparsity)
    np.testing.assert_array_equal(got, dense)


def test_all_dense_is_a_reshape() -> None:
    values = np.arange(24, dtype=np.float32)
    sparsity = Sparsity((0, 1, 2), (), (Dimension(2), Dimension(3), Dimension(4)))
    np.testing.assert_array_equal(densify(values, (2, 3, 4), sparsity), values.reshape(2, 3, 4))


def test_mismatched_metadata_fails_loudly() -> None:
    with pytest.raises(ConversionError):
        densify(np.zeros(4, np.float32), (2, 2), Sparsity((0,), (), (Dimension(2),)))
