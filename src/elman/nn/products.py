"""The recurrent layers' products with a fixed matrix, and who computes them.

A recurrent layer multiplies by the same W_h at every step of a sequence: T small
products h_{t-1} W_h forward, and T products da_t W_h^T backward. A general matrix
multiply (GEMM) first copies, or "packs", its right operand into the blocked layout
its kernels read, and OpenBLAS does so anew at each of the T products; with B rows on
the left (32, say) against H = 512 columns, that copy is a large part of each product.
MKL can pack a matrix once and reuse it for every product after
(``cblas_sgemm_pack`` / ``cblas_sgemm_compute``, ``elman.gemm``).

So a layer asks its ``gemm`` for the matrix of a time loop once, before the loop:

    W_h = self.gemm.fixed(self.params["W_h"], B)  # packed once per sequence
    for t in range(T):
        a[t] += h @ W_h

``NumpyGemm`` (the default) gives W_h itself (W_h^T as a C-order copy), and the loop
runs on numpy's matmul; a packed matrix from ``elman.gemm`` behaves like W_h
in ``x @ W`` and ``np.matmul(x, W, out=y)``, the two forms the layers use, so the
loops read the same either way. ``Network.use_gemm`` sets every recurrent layer's
``gemm``.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np


class Gemm(Protocol):
    """Who computes a time loop's products with one matrix (``NumpyGemm``, or
    ``elman.gemm.MklGemm``)."""

    name: str  # "numpy" or "mkl", as --gemm names it

    def fixed(self, W: np.ndarray, rows: int) -> Any:
        """W (K, N), for products ``x @ W`` with x (rows, K) while W does not change: W
        itself, or an object numpy multiplies like it (``x @ W``, ``np.matmul(x, W,
        out=y)``). A transposed view (``W_h.T``) is fine."""
        ...


class NumpyGemm:
    """numpy's own matmul (its BLAS, OpenBLAS in the wheels): the matrix as it is, or a
    transposed view (the backward loop's W_h^T) copied to C order once per sequence.

    OpenBLAS multiplies by a transposed view more slowly: with the copy a training step
    at one thread ran 8% faster for lstm-char, 11% for gru-char, 3% for lstm-ptb and 1%
    for rnn-ptb (AMD EPYC, 2026-12-07, ``bench.py``'s steps by CPU time under load); on
    the Intel Xeon of 2026-12-01 it changed nothing, at one thread or two
    (``benchmarks/README.md``).
    """

    name = "numpy"

    def fixed(self, W: np.ndarray, rows: int) -> np.ndarray:
        return W if W.flags.c_contiguous else np.ascontiguousarray(W)


NUMPY = NumpyGemm()
