"""Softmax and cross-entropy, fused so the backward pass is one subtraction."""

from __future__ import annotations

import numpy as np

from elman.nn.sums import sum_rows


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """log softmax over the last axis, stable for any logits (shift by the max first)."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


class SoftmaxCrossEntropy:
    """Mean cross-entropy of softmax(logits) against target ids.

    loss = sum_i m_i * (log sum_v exp(z_iv) - z_i,target_i) / sum_i m_i

    over the positions i of a (B, T) batch, where the mask m (1 = real token,
    0 = padding) defaults to all ones. The gradient of the fused pair is
    (softmax(z) - onehot(target)) * m / sum(m), which never forms the softmax's
    own (V, V) Jacobian.

    ``forward`` consumes ``logits``: it overwrites them with exp(z - max z), which
    ``backward`` turns into the gradient in one scaling pass; that saves a (B*T, V)
    buffer, the largest in the model, and two passes over it.
    """

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.cache: tuple[np.ndarray, np.ndarray, np.ndarray | None, tuple[int, ...]] | None = None
        self.total = 0.0  # summed loss of the last forward, in nats
        self.count = 0  # number of real tokens in the last forward

    def forward(
        self, logits: np.ndarray, targets: np.ndarray, mask: np.ndarray | None = None
    ) -> float:
        V = logits.shape[-1]
        z = logits.reshape(-1, V)  # (N, V), a view: the caller's array is reused
        t = targets.reshape(-1)
        z -= z.max(axis=1, keepdims=True)
        target_logit = z[np.arange(len(t)), t]
        np.exp(z, out=z)  # unnormalised: backward folds 1 / sum_exp into its one scaling
        sum_exp = sum_rows(z)
        losses = np.log(sum_exp) - target_logit  # (N,)
        m = None if mask is None else mask.reshape(-1).astype(z.dtype)
        if m is not None:
            losses *= m
        self.count = len(t) if m is None else int(mask.sum())
        self.total = float(losses.sum(dtype=np.float64))
        self.cache = (z, sum_exp, t, m, logits.shape)
        return self.total / max(self.count, 1)

    def backward(self, dout: float = 1.0) -> np.ndarray:
        exp_z, sum_exp, t, m, shape = self.cache
        # (softmax(z) - onehot(t)) * m * dout / count: one pass over the (N, V) buffer,
        # which is reused since this is the last use of the exponentials.
        row_scale = (dout / max(self.count, 1)) / sum_exp  # (N,)
        target_scale = np.full(len(t), dout / max(self.count, 1), exp_z.dtype)
        if m is not None:
            row_scale *= m
            target_scale *= m
        dz = exp_z
        dz *= row_scale[:, None]
        dz[np.arange(len(t)), t] -= target_scale
        self.cache = None
        return dz.reshape(shape)
