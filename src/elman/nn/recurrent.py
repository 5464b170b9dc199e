"""The Elman recurrent layer, unrolled over a whole sequence."""

from __future__ import annotations

import numpy as np

from elman.nn.products import NUMPY, Gemm
from elman.nn.sums import sum_columns

NONLINEARITIES = ("tanh", "relu")


def rnn_step(
    a_t: np.ndarray, h_prev: np.ndarray, W_h: np.ndarray, nonlinearity: str = "tanh"
) -> np.ndarray:
    """One step of h_t = φ(x_t W_x + b + h_{t-1} W_h), given a_t = x_t W_x + b (B, H),
    with φ = tanh or relu.

    Overwrites ``a_t`` with h_t and returns it. The layer's time loop and
    generation both use this function, so they cannot drift apart.
    """
    a_t += h_prev @ W_h
    if nonlinearity == "relu":
        return np.maximum(a_t, 0, out=a_t)
    return np.tanh(a_t, out=a_t)


def zero_rows(state: np.ndarray | None, rows: np.ndarray | None) -> np.ndarray | None:
    """A copy of ``state`` (B, H) with the rows where ``rows`` (B,) is True set to zero;
    None (all zeros) when ``rows`` is None or there is no state yet."""
    if rows is None or state is None:
        return None
    state = state.copy()
    state[rows] = 0
    return state


class RNN:
    """Elman's simple recurrent network over a (B, T, D) sequence:

        h_t = tanh(x_t W_x + h_{t-1} W_h + b),   h_0 = 0 unless given,

    with the same W_x (D, H), W_h (H, H) and b (H,) at every step; with
    ``nonlinearity="relu"``, max(0, ·) instead of tanh (PyTorch's nn.RNN
    ``nonlinearity`` option; Le et al. 2015 train such networks from W_h = I).

    Stateful for truncated BPTT: after ``forward`` the last hidden state is kept
    in ``self.state`` and the next ``forward`` starts from it, while ``backward``
    only reaches back to the start of the current chunk (it returns ``dh0`` and
    the model drops it). ``reset_state()`` starts over from h_0 = 0.

    Every recurrent layer offers this interface: ``state`` (None or what
    ``initial_state`` returns), ``reset_state``, ``initial_state``, ``forward``,
    ``backward`` returning (dxs, dstate0), and two pure forms that neither cache nor
    carry anything: ``apply`` over a sequence (evaluation, scoring) and ``step`` for
    one step (generation).
    """

    def __init__(
        self, W_x: np.ndarray, W_h: np.ndarray, b: np.ndarray, nonlinearity: str = "tanh"
    ) -> None:
        if nonlinearity not in NONLINEARITIES:
            raise ValueError(f"nonlinearity must be one of {NONLINEARITIES}, got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        self.params = {"W_x": W_x, "W_h": W_h, "b": b}
        self.grads = {name: np.zeros_like(p) for name, p in self.params.items()}
        self.state: np.ndarray | None = None  # last hidden state (B, H), carried to the next chunk
        self.cache: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self.gemm: Gemm = NUMPY  # who computes the time loops' products (nn/products.py)

    def reset_state(self, rows: np.ndarray | None = None) -> None:
        """Start over from h_0 = 0: every stream, or only the streams where the (B,)
        boolean ``rows`` is True (the others carry on)."""
        self.state = zero_rows(self.state, rows)

    def initial_state(self, batch: int) -> np.ndarray:
        """h_0 = 0, (B, H)."""
        return np.zeros((batch, self.params["W_h"].shape[0]), self.params["W_h"].dtype)

    def step(self, x: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One step, pure (nothing cached): x (B, D), h_{t-1} (B, H) -> output h_t, state h_t."""
        a = x @ self.params["W_x"]
        a += self.params["b"]
        h = rnn_step(a, h, self.params["W_h"], self.nonlinearity)
        return h, h

    def forward(self, xs: np.ndarray, h0: np.ndarray | None = None) -> np.ndarray:
        """xs (B, T, D) -> hs (B, T, H). h0 (B, H) defaults to the carried state."""
        if h0 is None:
            h0 = self.initial_state(xs.shape[0]) if self.state is None else self.state
        hs, h = self._unroll(xs, h0)
        self.state = h.copy()
        self.cache = (xs, h0, hs)
        return hs.transpose(1, 0, 2)  # (B, T, H)

    def apply(self, xs: np.ndarray, h0: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """xs (B, T, D), h0 (B, H) (default zeros) -> (hs (B, T, H), h_T), pure: nothing
        cached and ``state`` untouched, so one layer can serve several callers at once
        (evaluation, scoring, a server's requests)."""
        hs, h = self._unroll(xs, self.initial_state(xs.shape[0]) if h0 is None else h0)
        return hs.transpose(1, 0, 2), h.copy()

    def trace(self, xs: np.ndarray, h0: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Every per-step value the layer computes, by name, each (B, T, H): ``{"h": hs}``.
        Pure like ``apply``; for looking inside a model (``elman.insight``)."""
        hs, _ = self._unroll(xs, self.initial_state(xs.shape[0]) if h0 is None else h0)
        return {"h": hs.transpose(1, 0, 2)}

    def _unroll(self, xs: np.ndarray, h0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The time loop: xs (B, T, D), h0 (B, H) -> (hs time-major (T, B, H), h_T)."""
        W_x, W_h, b = self.params["W_x"], self.params["W_h"], self.params["b"]
        B, T, D = xs.shape
        H = W_h.shape[0]
        if h0.shape != (B, H):
            raise ValueError(
                f"expected a state of shape {(B, H)}, got {h0.shape}; "
                "call reset_state() when the batch size changes"
            )
        # The input projection of every step is one product; the loop only does
        # what depends on the previous step. Time-major (T, B, H) keeps each
        # step's rows contiguous.
        hs = (xs.reshape(B * T, D) @ W_x).reshape(B, T, H).transpose(1, 0, 2).copy()
        hs += b  # hs holds a_t = x_t W_x + b until step t overwrites it with h_t
        W_h = self.gemm.fixed(W_h, B)  # packed once for the T products (nn/products.py)
        h = h0
        for t in range(T):
            h = rnn_step(hs[t], h, W_h, self.nonlinearity)
        return hs, h

    def backward(
        self,
        dhs: np.ndarray,
        dh_last: np.ndarray | None = None,
        record: dict[str, np.ndarray] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """dhs (B, T, H), optional dh_last (B, H) from beyond the chunk -> (dxs, dh0).

        With a ``record`` dict, also puts there ``"h"``: dL/dh_t at every step (B, T, H),
        the whole gradient reaching h_t (from above and from the steps after it), for
        measuring how it fades back in time (``elman.insight``)."""
        xs, h0, hs = self.cache
        W_x, W_h = self.params["W_x"], self.params["W_h"]
        B, T, D = xs.shape
        H = W_h.shape[0]
        dhs = dhs.transpose(1, 0, 2)  # (T, B, H) view
        da = np.empty_like(hs)  # da_t = dL/d(pre-activation at t)
        dh = np.zeros((B, H), hs.dtype) if dh_last is None else dh_last.copy()
        # φ'(a_t) from h_t alone, for all steps at once: tanh' = 1 - h_t^2, relu' = [h_t > 0]
        dphi = (hs > 0).astype(hs.dtype) if self.nonlinearity == "relu" else 1 - hs * hs
        dh_steps = None if record is None else np.empty_like(hs)  # (T, B, H)
        W_hT = self.gemm.fixed(W_h.T, B)
        for t in reversed(range(T)):
            dh += dhs[t]
            if dh_steps is not None:
                dh_steps[t] = dh
            np.multiply(dh, dphi[t], out=da[t])
            np.matmul(da[t], W_hT, out=dh)
        # The weight gradients sum over all steps, so each is one product after the loop.
        self.grads["W_h"] += h0.T @ da[0]
        if T > 1:
            self.grads["W_h"] += hs[:-1].reshape(-1, H).T @ da[1:].reshape(-1, H)
        self.grads["b"] += sum_columns(da)
        da = da.transpose(1, 0, 2).reshape(B * T, H)  # back to batch-major rows
        self.grads["W_x"] += xs.reshape(B * T, D).T @ da
        dxs = (da @ W_x.T).reshape(B, T, D)
        if record is not None:
            record["h"] = dh_steps.transpose(1, 0, 2)
        return dxs, dh
