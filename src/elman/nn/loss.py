"""Softmax and cross-entropy, fused so the backward pass is one scaling and a subtraction."""

from __future__ import annotations

import numpy as np

from elman.nn.sums import sum_rows


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """log softmax over the last axis, stable for any logits (shift by the max first)."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


# exp(z) is used unshifted on a row while its sum stays within [2^-64, 2^64]: no term
# can overflow, the largest term is a normal float, and log(sum) - z_target loses at most
# |log sum| ulp-sized steps, 44 * 2^-24 < 3e-6 nats. Other rows shift by their max.
UNSHIFTED_SUM_RANGE = (2.0**-64, 2.0**64)


def cross_entropy(
    logits: np.ndarray, targets: np.ndarray, mask: np.ndarray | None = None
) -> tuple[float, int]:
    """(summed cross-entropy in nats, tokens) of softmax(logits) (..., V) against target
    ids (...), over the positions the mask marks real (all when None). Pure: what
    ``SoftmaxCrossEntropy.forward`` computes, for evaluation, with nothing kept for a
    backward pass, so several callers may use one model at once."""
    z = logits.reshape(-1, logits.shape[-1])
    losses, _ = _losses(z, targets.reshape(-1), np.empty_like(z))
    return masked_sum(losses, mask)


def _losses(z: np.ndarray, t: np.ndarray, exp_z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """-log softmax(z)[t] per row of z (N, V), and the row sums of exp(z - shift) left in
    ``exp_z`` (see ``SoftmaxCrossEntropy``), which the backward pass turns into dz."""
    with np.errstate(over="ignore", under="ignore", divide="ignore"):  # redone below
        np.exp(z, out=exp_z)
        sum_exp = sum_rows(exp_z)  # unnormalised: backward folds 1 / sum_exp into its scaling
        log_sum_exp = np.log(sum_exp)
    low, high = UNSHIFTED_SUM_RANGE
    redo = np.flatnonzero(~((sum_exp >= low) & (sum_exp <= high)))  # NaN included
    if redo.size:
        shift = z[redo].max(axis=1, keepdims=True)
        exp_z[redo] = np.exp(z[redo] - shift)
        sum_exp[redo] = sum_rows(exp_z[redo])
        log_sum_exp[redo] = np.log(sum_exp[redo]) + shift[:, 0]
    return log_sum_exp - z[np.arange(len(t)), t], sum_exp  # (N,), (N,)


def masked_sum(losses: np.ndarray, mask: np.ndarray | None) -> tuple[float, int]:
    """(sum of the losses at real positions, in float64, and how many there are)."""
    if mask is None:
        return float(losses.sum(dtype=np.float64)), len(losses)
    losses *= mask.reshape(-1).astype(losses.dtype)
    return float(losses.sum(dtype=np.float64)), int(mask.sum())


class SoftmaxCrossEntropy:
    """Mean cross-entropy of softmax(logits) against target ids.

    loss = sum_i m_i * (log sum_v exp(z_iv) - z_i,target_i) / sum_i m_i

    over the positions i of a (B, T) batch, where the mask m (1 = real token,
    0 = padding) defaults to all ones. The gradient of the fused pair is
    (softmax(z) - onehot(target)) * m / sum(m), which never forms the softmax's
    own (V, V) Jacobian.

    softmax(z) = softmax(z - c) for any shift c. The usual c = max z keeps exp from
    overflowing, but finding and subtracting it are two passes over the (B*T, V)
    logits, a third of the layer's time at V = 10,000. So ``forward`` takes exp(z)
    as it is and checks each row's sum; only rows whose sum leaves
    ``UNSHIFTED_SUM_RANGE`` (huge or tiny logits) are redone shifted by their max.
    The exponentials go into a buffer of their own (the logits are left untouched),
    which ``backward`` turns into the gradient in one scaling pass and returns. With
    ``reuse_buffer`` every ``forward`` writes into the same buffer, so the gradient
    handed out is only valid until the next ``forward``: for callers that are done with
    it by then, as a training step is. A new (N, V) array each step costs page faults,
    about 1,400 (2 ms) a step at (700, 10,000).
    """

    def __init__(self, reuse_buffer: bool = False) -> None:
        self.reuse_buffer = reuse_buffer
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        # (exp(z), row sums, targets, mask, logits' shape) from forward, for backward
        self.cache: (
            tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None, tuple[int, ...]] | None
        ) = None
        self.total = 0.0  # summed loss of the last forward, in nats
        self.count = 0  # number of real tokens in the last forward
        self.buffer: np.ndarray | None = None  # exp(z), then the gradient (reuse_buffer)

    def forward(
        self, logits: np.ndarray, targets: np.ndarray, mask: np.ndarray | None = None
    ) -> float:
        V = logits.shape[-1]
        z = logits.reshape(-1, V)  # (N, V)
        exp_z = self._buffer_like(z)
        losses, sum_exp = _losses(z, targets.reshape(-1), exp_z)
        m = None if mask is None else mask.reshape(-1).astype(z.dtype)
        self.total, self.count = masked_sum(losses, mask)
        self.cache = (exp_z, sum_exp, targets.reshape(-1), m, logits.shape)
        return self.total / max(self.count, 1)

    def _buffer_like(self, z: np.ndarray) -> np.ndarray:
        """Where forward writes exp(z): a new array, or with ``reuse_buffer`` the last one
        when it has the right shape and dtype."""
        buffer = self.buffer
        if buffer is None or buffer.shape != z.shape or buffer.dtype != z.dtype:
            buffer = np.empty_like(z)
            if self.reuse_buffer:
                self.buffer = buffer
        return buffer

    def backward(self, dout: float = 1.0) -> np.ndarray:
        exp_z, sum_exp, t, m, shape = self.cache
        # (softmax(z) - onehot(t)) * m * dout / count: one pass over the (N, V) buffer.
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
