"""Adaptive softmax (Grave et al. 2017): the output layer and its cross-entropy in one,
cheap for the frequent tokens and exact for every token."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from elman.nn.loss import log_softmax, masked_sum
from elman.nn.sums import sum_columns


def projection_size(hidden: int, div_value: float, cluster: int) -> int:
    """Width of tail cluster ``cluster``'s projection: H // div_value^(cluster + 1),
    computed as ``torch.nn.AdaptiveLogSoftmaxWithLoss`` does (rarer words, fewer dims)."""
    return int(hidden // (div_value ** (cluster + 1)))


class AdaptiveSoftmax:
    """p(w | h) over V tokens ordered by frequency, cut by c_0 < c_1 < ... < c_{K-1} < c_K = V
    into a shortlist [0, c_0) and K tail clusters C_k = [c_k, c_{k+1}):

        z = h W_head + b_head                                  head logits   (N, c_0 + K)
        p(w | h) = softmax(z)_w                                w in the shortlist
        p(w | h) = softmax(z)_{c_0+k} softmax(h P_k Q_k)_{w-c_k}   w in C_k

    The head scores the shortlist and one entry per cluster; a tail cluster's tokens
    share that entry's probability by a second softmax over a low-rank product, with
    P_k (H, H // div^(k+1)) and Q_k (H // div^(k+1), |C_k|), no biases: PyTorch's
    ``AdaptiveLogSoftmaxWithLoss(..., head_bias=True)``, whose weights are the
    transposes of these (``head.weight = W_head.T``, ``tail[k][0].weight = P_k.T``,
    ``tail[k][1].weight = Q_k.T``).

    ``forward(h, targets, mask)`` is the mean cross-entropy, as ``SoftmaxCrossEntropy``:

        loss = sum_i m_i * (-log p(t_i | h_i)) / sum_i m_i

    It is exact, -log p(t | h) = -log softmax(z)_{c_0+k} - log softmax(h P_k Q_k)_{t-c_k}
    for a tail token, and cheap: the head costs H (c_0 + K) per position, and cluster k
    is computed only for the rows whose target falls in it, never over all of V.
    ``log_prob(h)`` gives the whole (N, V) distribution, for sampling and scoring.

    Parameters: ``"head.W"`` (H, c_0 + K), ``"head.b"`` (c_0 + K,), ``"tail.k.proj"``
    (P_k) and ``"tail.k.out"`` (Q_k). They and the computation share one dtype.
    """

    def __init__(
        self,
        head_W: np.ndarray,
        head_b: np.ndarray,
        tail: Sequence[tuple[np.ndarray, np.ndarray]],
        cutoffs: Sequence[int],
    ) -> None:
        """``tail[k] = (P_k, Q_k)``; ``cutoffs`` are c_0 .. c_{K-1}, V comes from Q_{K-1}."""
        cutoffs = [int(c) for c in cutoffs]
        if len(tail) != len(cutoffs) or not tail:
            raise ValueError(f"expected one tail cluster per cutoff {cutoffs}, got {len(tail)}")
        head_size = cutoffs[0] + len(tail)  # the shortlist and one entry per cluster
        if head_W.shape != (head_W.shape[0], head_size) or head_b.shape != (head_size,):
            raise ValueError(
                f"expected head.W of shape (H, {head_size}) and head.b ({head_size},), got "
                f"{head_W.shape} and {head_b.shape}"
            )
        self.bounds = [*cutoffs, cutoffs[-1] + tail[-1][1].shape[1]]  # c_0 .. c_K = V
        self.params = {"head.W": head_W, "head.b": head_b}
        for k, (proj, out) in enumerate(tail):
            size = self.bounds[k + 1] - self.bounds[k]
            if proj.shape[0] != head_W.shape[0] or out.shape != (proj.shape[1], size):
                raise ValueError(
                    f"tail cluster {k}: expected proj (H, h) and out (h, {size}), got "
                    f"{proj.shape} and {out.shape}"
                )
            self.params[f"tail.{k}.proj"] = proj
            self.params[f"tail.{k}.out"] = out
        self.grads = {name: np.zeros_like(p) for name, p in self.params.items()}
        self.cache: tuple | None = None
        self.total = 0.0  # summed loss of the last forward, in nats
        self.count = 0  # number of real tokens in the last forward

    @property
    def shortlist(self) -> int:
        return self.bounds[0]

    @property
    def clusters(self) -> int:
        return len(self.bounds) - 1

    @property
    def vocab_size(self) -> int:
        return self.bounds[-1]

    def forward(self, h: np.ndarray, targets: np.ndarray, mask: np.ndarray | None = None) -> float:
        """Mean -log p(target | h) over the real tokens: h (N, H) or (B, T, H), targets
        and mask (1 = real token, 0 = padding) shaped like h without its last axis."""
        x = h.reshape(-1, self.params["head.W"].shape[0])  # (N, H)
        logp, head_logp, head_target, clusters = self._log_probs(x, targets.reshape(-1))
        self.total, self.count = masked_sum(-logp, mask)
        head_probs = np.exp(head_logp, out=head_logp)
        m = None if mask is None else mask.reshape(-1).astype(logp.dtype)
        for cluster in clusters:  # what backward needs: softmaxes, not log-softmaxes
            np.exp(cluster[3], out=cluster[3])
        self.cache = (x, h.shape, head_probs, head_target, m, clusters)
        return self.total / max(self.count, 1)

    def nll(
        self, h: np.ndarray, targets: np.ndarray, mask: np.ndarray | None = None
    ) -> tuple[float, int]:
        """(summed -log p(target | h) in nats, tokens) over the real tokens, as ``forward``
        computes it; pure: nothing kept for a backward pass."""
        x = h.reshape(-1, self.params["head.W"].shape[0])
        logp, *_ = self._log_probs(x, targets.reshape(-1))
        return masked_sum(-logp, mask)

    def _log_probs(self, x: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, ...]:
        """log p(t_i | x_i) (N,) and the parts backward needs: the head's log-softmax
        (N, S + K), the head's targets, and per cluster with targets in it (k, its rows,
        x P_k, the within-cluster log-softmax, the targets' places in the cluster)."""
        W, b = self.params["head.W"], self.params["head.b"]
        rows = np.arange(len(t))
        S = self.shortlist
        # Which part each target is in: 0 for the shortlist, k + 1 for cluster C_k.
        part = np.searchsorted(self.bounds[:-1], t, side="right")
        # In the head, a shortlist token is its own class; a tail token is its cluster's.
        head_target = np.where(part == 0, t, S + part - 1)
        head_logp = log_softmax(x @ W + b)  # (N, S + K)
        logp = head_logp[rows, head_target]  # (N,): log p(t) for the shortlist, log p(C_k) else
        clusters = []
        for k in range(self.clusters):
            members = np.flatnonzero(part == k + 1)  # only these rows pay for cluster k
            if members.size == 0:
                continue
            P, Q = self.params[f"tail.{k}.proj"], self.params[f"tail.{k}.out"]
            proj = x[members] @ P  # (n_k, h_k)
            within_logp = log_softmax(proj @ Q)  # (n_k, |C_k|): log p(w | C_k, h)
            within = t[members] - self.bounds[k]
            logp[members] += within_logp[np.arange(members.size), within]
            clusters.append((k, members, proj, within_logp, within))
        return logp, head_logp, head_target, clusters

    def backward(self, dout: float = 1.0) -> np.ndarray:
        """Add the gradients of ``dout * loss`` to ``grads``; return dloss/dh, shaped like h.

        Each softmax with cross-entropy has the fused gradient (softmax - onehot), weighted
        by dout * m_i / sum(m); cluster k's contributes only to its own rows of dh."""
        x, shape, head_probs, head_target, m, clusters = self.cache
        weight = dout / max(self.count, 1)
        row_weight = None if m is None else (m * weight)[:, None]  # (N, 1)

        dz = head_probs  # reuse the buffer: this is the last use of the probabilities
        dz[np.arange(len(head_target)), head_target] -= 1
        if row_weight is None:
            dz *= weight
        else:
            dz *= row_weight
        self.grads["head.W"] += x.T @ dz
        self.grads["head.b"] += sum_columns(dz)
        dx = dz @ self.params["head.W"].T  # (N, H)

        for k, members, proj, within_probs, within in clusters:
            P, Q = self.params[f"tail.{k}.proj"], self.params[f"tail.{k}.out"]
            du = within_probs
            du[np.arange(members.size), within] -= 1
            if row_weight is None:
                du *= weight
            else:
                du *= row_weight[members]
            self.grads[f"tail.{k}.out"] += proj.T @ du
            dproj = du @ Q.T  # (n_k, h_k)
            self.grads[f"tail.{k}.proj"] += x[members].T @ dproj
            dx[members] += dproj @ P.T  # members are distinct rows, so += adds once each
        self.cache = None
        return dx.reshape(shape)

    def log_prob(self, h: np.ndarray) -> np.ndarray:
        """The whole distribution: h (..., H) -> log p(w | h) (..., V), every row's
        logsumexp 0. It costs H V per position, like a full softmax: for generation,
        scoring and tests, not for training."""
        W, b = self.params["head.W"], self.params["head.b"]
        x = h.reshape(-1, W.shape[0])  # (N, H)
        S = self.shortlist
        head_logp = log_softmax(x @ W + b)  # (N, S + K)
        out = np.empty((len(x), self.vocab_size), dtype=head_logp.dtype)
        out[:, :S] = head_logp[:, :S]
        for k in range(self.clusters):
            P, Q = self.params[f"tail.{k}.proj"], self.params[f"tail.{k}.out"]
            low, high = self.bounds[k], self.bounds[k + 1]
            # log p(w | h) = log p(C_k | h) + log p(w | C_k, h)
            out[:, low:high] = head_logp[:, S + k, None] + log_softmax((x @ P) @ Q)
        return out.reshape(*h.shape[:-1], self.vocab_size)
