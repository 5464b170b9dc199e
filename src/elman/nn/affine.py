"""Affine layer applied at every position at once."""

from __future__ import annotations

import numpy as np

from elman.nn.parameters import weights_over_bias
from elman.nn.sums import sum_columns


class Affine:
    """y = x W + b over the last axis: x (..., H) -> y (..., V).

    A (B, T, H) input is one (B*T, H) @ (H, V) product, not T small ones. With
    ``segments`` (increasing column indices), the columns between them are products of
    their own: a language model whose vocabulary grew (``lm.model.grown``) computes its
    old tokens' logits with exactly the product the model had before, since a BLAS's
    product over more columns rounds some of the old ones differently (its blocking and
    its threads' shares depend on the width).
    """

    def __init__(self, W: np.ndarray, b: np.ndarray, segments: tuple[int, ...] = ()) -> None:
        self.params = {"W": W, "b": b}
        self.grads = {"W": np.zeros_like(W), "b": np.zeros_like(b)}
        self.x: np.ndarray | None = None
        self.segments = segments

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        return self.apply(x)

    def apply(self, x: np.ndarray) -> np.ndarray:
        """x W + b, pure: nothing kept for backward (for evaluation and serving)."""
        W, b = self.params["W"], self.params["b"]
        rows = x.reshape(-1, W.shape[0])
        W_b = weights_over_bias(W, b)
        if W_b is None:
            y = self.product(rows, W)
            y += b
        else:  # x W + b = [x, 1] [W; b]: the bias costs one more column, not a pass over y
            rows_1 = np.empty((rows.shape[0], W.shape[0] + 1), np.result_type(rows, W_b))
            rows_1[:, :-1] = rows
            rows_1[:, -1] = 1
            y = self.product(rows_1, W_b)
        return y.reshape(*x.shape[:-1], W.shape[1])

    def product(self, rows: np.ndarray, W: np.ndarray) -> np.ndarray:
        """rows (N, K) @ W (K, V), a product per segment of columns."""
        if not self.segments:
            return rows @ W
        bounds = (0, *self.segments, W.shape[1])
        y = np.empty((rows.shape[0], W.shape[1]), np.result_type(rows, W))
        for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
            y[:, start:stop] = rows @ W[:, start:stop]
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        W = self.params["W"]
        x = self.x.reshape(-1, W.shape[0])  # (N, H)
        dy = dy.reshape(-1, W.shape[1])  # (N, V)
        dW = self.grads["W"]
        if dW.flags.f_contiguous and not dW.flags.c_contiguous:
            # A tied weight, W = E^T: the product in E's own layout, so the sum into its
            # gradient runs over contiguous memory instead of across it.
            dE = dW.T  # a view: adding into it adds into the embedding's gradient
            dE += dy.T @ x
        else:
            dW += x.T @ dy
        self.grads["b"] += sum_columns(dy)
        return (dy @ W.T).reshape(self.x.shape)
