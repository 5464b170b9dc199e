"""Softmax and cross-entropy, fused so the backward pass is one subtraction."""

from __future__ import annotations

import numpy as np


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

    ``forward`` consumes ``logits``: it overwrites them with the probabilities that
    ``backward`` needs, which saves a (B*T, V) buffer, the largest in the model.
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
        np.exp(z, out=z)
        sum_exp = z.sum(axis=1)
        z /= sum_exp[:, None]  # z now holds the probabilities
        losses = np.log(sum_exp) - target_logit  # (N,)
        m = None if mask is None else mask.reshape(-1).astype(z.dtype)
        if m is not None:
            losses *= m
        self.count = len(t) if m is None else int(mask.sum())
        self.total = float(losses.sum(dtype=np.float64))
        self.cache = (z, t, m, logits.shape)
        return self.total / max(self.count, 1)

    def backward(self, dout: float = 1.0) -> np.ndarray:
        probs, t, m, shape = self.cache
        dz = probs  # reuse the buffer: this is the last use of the probabilities
        dz[np.arange(len(t)), t] -= 1
        dz *= dout / max(self.count, 1)
        if m is not None:
            dz *= m[:, None]
        self.cache = None
        return dz.reshape(shape)
