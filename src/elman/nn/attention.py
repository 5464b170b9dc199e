"""Attention of a sequence of queries over a right-padded memory, with a single-step form."""

from __future__ import annotations

import numpy as np

from elman.nn.pooling import check_lengths

SCORES = ("dot", "general", "additive")
SCORE_PARAMS = {"dot": (), "general": ("W_a",), "additive": ("W_q", "W_k", "v")}


class Attention:
    """Global attention: each query q_t reads a weighted mean of the memory m_1..m_S.

        e_{t,s} = score(q_t, m_s)
        a_t     = softmax_s(e_t),  a_{t,s} = 0 exactly at the padding s >= lengths[b]
        c_t     = sum_s a_{t,s} m_s

    with one of three scores:

        "dot"       q_t · m_s                           Luong et al. 2015, needs Hq = Hm
        "general"   q_t W_a m_s^T,      W_a (Hq, Hm)    Luong et al. 2015
        "additive"  v · tanh(q_t W_q + m_s W_k),        Bahdanau et al. 2015
                    W_q (Hq, A), W_k (Hm, A), v (A,), A the attention size

    ``forward`` takes all T queries at once (B, T, Hq): a decoder run over the whole
    target with teacher forcing, whose outputs then attend, as Luong et al.'s global
    attention and Deep Learning from Scratch 2's AttentionDecoder do. The weights
    a (B, T, S) of the last forward stay in ``self.weights`` for inspection and plots.

    Every score first maps the memory to keys k_s that do not depend on the query,
    and scores against those: k_s = m_s (dot), m_s W_a^T (general), m_s W_k (additive).
    ``project_memory`` returns them, so decoding one token at a time (``step``, e.g. in
    a beam search) computes them once per source sentence instead of once per step.

    The memory is right-padded: sequence b is its first lengths[b] steps. Padded
    scores are set to -inf before the softmax, so their weights are exactly 0 and the
    padding (any finite values, such as an encoder's leftover outputs) changes neither
    the contexts nor any gradient; the padding's own gradient is exactly 0.
    """

    def __init__(
        self,
        score: str,
        W_a: np.ndarray | None = None,
        W_q: np.ndarray | None = None,
        W_k: np.ndarray | None = None,
        v: np.ndarray | None = None,
    ) -> None:
        if score not in SCORES:
            raise ValueError(f"score must be one of {SCORES}, got {score!r}")
        given = {"W_a": W_a, "W_q": W_q, "W_k": W_k, "v": v}
        wanted = SCORE_PARAMS[score]
        missing = [name for name in wanted if given[name] is None]
        extra = [name for name, p in given.items() if p is not None and name not in wanted]
        if missing or extra:
            raise ValueError(
                f"expected the parameters {list(wanted)} for the {score!r} score, got "
                f"{[name for name, p in given.items() if p is not None]}"
            )
        shapes = {name: given[name].shape for name in wanted}
        if score == "general" and len(shapes["W_a"]) != 2:
            raise ValueError(f"expected W_a of shape (Hq, Hm), got {shapes['W_a']}")
        if score == "additive" and not (
            len(shapes["v"]) == 1
            and len(shapes["W_q"]) == len(shapes["W_k"]) == 2
            and shapes["W_q"][1] == shapes["W_k"][1] == shapes["v"][0]
        ):
            raise ValueError(
                "expected W_q (Hq, A), W_k (Hm, A) and v (A,) with one attention size A, "
                f"got {shapes['W_q']}, {shapes['W_k']} and {shapes['v']}"
            )
        self.score = score
        self.params = {name: given[name] for name in wanted}
        self.grads = {name: np.zeros_like(p) for name, p in self.params.items()}
        self.weights: np.ndarray | None = None  # a (B, T, S) of the last forward
        # (queries, memory, keys or, for "additive", the tanh (B, T, S, A), weights)
        self.cache: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None

    def project_memory(self, memory: np.ndarray) -> np.ndarray:
        """memory (B, S, Hm) -> keys: m (dot), m W_a^T (B, S, Hq) or m W_k (B, S, A).

        They depend on the parameters: compute them again after an update. A beam
        search that repeats the memory per hypothesis repeats the keys the same way.
        """
        self._check_memory(memory)
        if self.score == "dot":
            return memory
        if self.score == "general":
            return memory @ self.params["W_a"].T
        return memory @ self.params["W_k"]

    def step(
        self,
        query: np.ndarray,
        memory: np.ndarray,
        lengths: np.ndarray,
        keys: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """One query per sequence, pure (nothing cached): query (B, Hq), memory (B, S, Hm),
        lengths (B,) and optionally ``keys = project_memory(memory)`` -> context (B, Hm),
        weights (B, S). Equal to ``forward`` with T = 1."""
        if query.ndim != 2:
            raise ValueError(f"expected a query of shape (B, Hq), got {query.shape}")
        contexts, weights, _ = self._attend(query[:, None], memory, lengths, keys)
        return contexts[:, 0], weights[:, 0]

    def apply(
        self,
        queries: np.ndarray,
        memory: np.ndarray,
        lengths: np.ndarray,
        keys: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """As ``forward``, pure (nothing cached, ``weights`` left as they were), optionally
        with ``keys = project_memory(memory)`` -> contexts (B, T, Hm), weights (B, T, S):
        for a decoder scoring a whole sequence without training."""
        contexts, weights, _ = self._attend(queries, memory, lengths, keys)
        return contexts, weights

    def forward(self, queries: np.ndarray, memory: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """queries (B, T, Hq), memory (B, S, Hm), lengths (B,) of the memory's real steps
        -> contexts (B, T, Hm)."""
        contexts, weights, hidden = self._attend(queries, memory, lengths, None)
        self.weights = weights
        self.cache = (queries, memory, hidden, weights)
        return contexts

    def backward(self, dcontexts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """dcontexts (B, T, Hm) -> (dqueries (B, T, Hq), dmemory (B, S, Hm)); dmemory is
        exactly 0 at the padding."""
        queries, memory, hidden, a = self.cache
        B, T, Hq = queries.shape
        S, Hm = memory.shape[1:]
        # c_t = sum_s a_{t,s} m_s
        dmemory = a.transpose(0, 2, 1) @ dcontexts  # (B, S, Hm)
        da = dcontexts @ memory.transpose(0, 2, 1)  # (B, T, S)
        # softmax: de_s = a_s (da_s - sum_s' a_s' da_s'); 0 wherever a is 0
        de = da - np.einsum("bts,bts->bt", a, da)[:, :, None]
        de *= a
        if self.score == "additive":
            W_q, W_k, v = self.params["W_q"], self.params["W_k"], self.params["v"]
            A = v.shape[0]
            th = hidden  # tanh(q_t W_q + k_s), (B, T, S, A)
            self.grads["v"] += de.reshape(-1) @ th.reshape(-1, A)
            dpre = th * th  # e = th v, th = tanh(pre): dpre = de v (1 - th^2)
            np.subtract(1, dpre, out=dpre)
            dpre *= v
            dpre *= de[..., None]
            dq_proj = dpre.sum(axis=2).reshape(B * T, A)  # d(q_t W_q)
            dkeys = dpre.sum(axis=1).reshape(B * S, A)  # d(m_s W_k)
            self.grads["W_q"] += queries.reshape(B * T, Hq).T @ dq_proj
            self.grads["W_k"] += memory.reshape(B * S, Hm).T @ dkeys
            dqueries = (dq_proj @ W_q.T).reshape(B, T, Hq)
            dmemory += (dkeys @ W_k.T).reshape(B, S, Hm)
            return dqueries, dmemory
        keys = hidden  # (B, S, Hq): e = q k^T
        dqueries = de @ keys
        dkeys = de.transpose(0, 2, 1) @ queries  # (B, S, Hq)
        if self.score == "dot":
            dmemory += dkeys
        else:  # k = m W_a^T
            dkeys = dkeys.reshape(B * S, Hq)
            self.grads["W_a"] += dkeys.T @ memory.reshape(B * S, Hm)
            dmemory += (dkeys @ self.params["W_a"]).reshape(B, S, Hm)
        return dqueries, dmemory

    def _attend(
        self,
        queries: np.ndarray,
        memory: np.ndarray,
        lengths: np.ndarray,
        keys: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """What ``forward`` and ``step`` share: -> contexts (B, T, Hm), weights (B, T, S)
        and what backward needs besides them: the keys (dot, general) or the tanh of the
        additive score (B, T, S, A)."""
        B, S, Hm = self._check_memory(memory)
        if queries.ndim != 3 or queries.shape[0] != B or queries.shape[2] != self._query_size(Hm):
            raise ValueError(
                f"expected queries of shape (B, T, Hq) = ({B}, T, {self._query_size(Hm)}), "
                f"got {queries.shape}"
            )
        lengths = check_lengths(lengths, B, S)
        if keys is None:
            keys = self.project_memory(memory)
        elif keys.shape != (B, S, self._key_size(Hm)):
            raise ValueError(
                f"expected keys of shape {(B, S, self._key_size(Hm))} from project_memory, "
                f"got {keys.shape}"
            )
        if self.score == "additive":
            hidden = queries @ self.params["W_q"]  # (B, T, A)
            hidden = hidden[:, :, None, :] + keys[:, None, :, :]  # (B, T, S, A)
            np.tanh(hidden, out=hidden)
            scores = hidden @ self.params["v"]  # (B, T, S)
        else:
            hidden = keys
            scores = queries @ keys.transpose(0, 2, 1)  # (B, T, S)
        # Masked softmax over s: exp(-inf) = 0, so the padding's weights are exactly 0
        # whatever its scores were (finite, huge or overflowed).
        padding = np.arange(S) >= lengths[:, None]  # (B, S)
        np.copyto(scores, -np.inf, where=padding[:, None, :])
        scores -= scores.max(axis=2, keepdims=True)  # every row has a real step: finite max
        weights = np.exp(scores, out=scores)
        weights /= weights.sum(axis=2, keepdims=True)
        contexts = weights @ memory  # (B, T, Hm)
        return contexts, weights, hidden

    def _check_memory(self, memory: np.ndarray) -> tuple[int, int, int]:
        """memory's (B, S, Hm), after checking Hm against the parameters."""
        if memory.ndim != 3:
            raise ValueError(f"expected memory of shape (B, S, Hm), got {memory.shape}")
        if self.score == "dot":
            Hm = memory.shape[2]
        elif self.score == "general":
            Hm = self.params["W_a"].shape[1]
        else:
            Hm = self.params["W_k"].shape[0]
        if memory.shape[2] != Hm:
            raise ValueError(f"expected memory of shape (B, S, {Hm}), got {memory.shape}")
        return memory.shape

    def _query_size(self, Hm: int) -> int:
        """Hq: Hm for the dot score, else the rows of W_a or W_q."""
        if self.score == "dot":
            return Hm
        return self.params["W_a" if self.score == "general" else "W_q"].shape[0]

    def _key_size(self, Hm: int) -> int:
        """The keys' last axis: Hm (dot), Hq (general) or A (additive)."""
        if self.score == "dot":
            return Hm
        if self.score == "general":
            return self.params["W_a"].shape[0]
        return self.params["v"].shape[0]
