"""Sums along one axis of a matrix, as matrix-vector products with a vector of ones.

BLAS's gemv does these several times faster than ``ndarray.sum(axis=...)``: on the
(B*T, V) arrays of the output layer, 0.1 ms instead of 0.4-0.6 ms, which is a few
percent of a word-level training step (benchmarks/profile_step.py). It accumulates in the
array's own dtype, as ``sum`` does along a non-contiguous axis.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np


@lru_cache(maxsize=64)  # batches of varying length would otherwise pile up
def _ones(n: int, dtype: np.dtype) -> np.ndarray:
    ones = np.ones(n, dtype)
    ones.flags.writeable = False
    return ones


def sum_rows(a: np.ndarray) -> np.ndarray:
    """(N, K) -> (N,): the sum of each row, a 1."""
    return a @ _ones(a.shape[1], a.dtype)


def sum_columns(a: np.ndarray) -> np.ndarray:
    """(..., K) -> (K,): the sum over every axis but the last, 1ᵀ a on its rows."""
    rows = a.reshape(-1, a.shape[-1])
    return _ones(rows.shape[0], a.dtype) @ rows
