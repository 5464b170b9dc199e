"""A tanh layer joining two parts of an encoder-decoder: y = tanh(x W + b)."""

from __future__ import annotations

import numpy as np

from elman.nn.affine import Affine


class Bridge:
    """y = tanh(x W + b) over the last axis: x (..., Din) -> y (..., Dout), W (Din, Dout),
    b (Dout,). Two uses in an encoder-decoder:

    - a decoder's initial state from a vector c (a condition, or the encoder's final
      state when encoder and decoder sizes differ): h_0 = tanh(c W_c + b_c), as
      Cho et al. (2014) start their decoder from the summary c and Bahdanau et al. (2015)
      from the backward encoder's first state. An LSTM decoder's (h_0, c_0) takes one
      bridge each.
    - Luong et al. (2015)'s attentional hidden state h~_t = tanh([c_t; h_t] W_c + b_c)
      from the context c_t (Hm) and the decoder's output h_t (H), x = [c_t; h_t]
      (B, T, Hm + H); the caller concatenates them and splits dx at Hm. Luong et al.
      have no bias: b = 0 gives theirs.

    The affine part is an ``Affine`` holding the same ``params`` and ``grads`` dicts, so
    packing the parameters gives the bridge its one-product x W + b too.
    """

    def __init__(self, W: np.ndarray, b: np.ndarray) -> None:
        if W.ndim != 2 or b.shape != W.shape[1:]:
            raise ValueError(f"expected W (Din, Dout) and b (Dout,), got {W.shape} and {b.shape}")
        self.affine = Affine(W, b)
        self.params = self.affine.params  # {"W", "b"}, the same dicts as the affine's
        self.grads = self.affine.grads
        self.cache: np.ndarray | None = None  # y; x is in the affine's cache

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x (..., Din) -> y (..., Dout)."""
        Din = self.params["W"].shape[0]
        if x.ndim < 1 or x.shape[-1] != Din:
            raise ValueError(f"expected inputs of shape (..., {Din}), got {x.shape}")
        y = self.affine.forward(x)
        np.tanh(y, out=y)
        self.cache = y
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """dy (..., Dout) -> dx (..., Din)."""
        y = self.cache
        da = y * y  # tanh' = 1 - y^2
        np.subtract(1, da, out=da)
        da *= dy
        return self.affine.backward(da)
