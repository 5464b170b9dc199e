"""The gated recurrent unit (Cho et al., 2014) in PyTorch's form, unrolled over a whole sequence."""

from __future__ import annotations

import numpy as np

from elman.nn.activations import sigmoid
from elman.nn.products import NUMPY, Gemm
from elman.nn.recurrent import zero_rows
from elman.nn.sums import sum_columns


def gru_step(
    a_t: np.ndarray, h_prev: np.ndarray, W_h: np.ndarray, b_h: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """One GRU step given a_t = x_t W_x + b_x (B, 3H) -> (h_t, h_{t-1} W_hn + b_hn), both (B, H).

    Overwrites ``a_t`` with the gates [r | z | n]; those and h_{t-1} W_hn + b_hn are
    all that backward needs from the step. The layer's time loop and generation
    both use this function, so they cannot drift apart.
    """
    H = h_prev.shape[1]
    g = h_prev @ W_h
    g += b_h  # (B, 3H): h_{t-1} W_h + b_h
    rz = a_t[:, : 2 * H]
    rz += g[:, : 2 * H]
    sigmoid(rz, out=rz)
    r, z, n = a_t[:, :H], a_t[:, H : 2 * H], a_t[:, 2 * H :]
    hn = g[:, 2 * H :]
    n += r * hn
    np.tanh(n, out=n)
    h = h_prev - n  # h_t = (1 - z) n + z h_{t-1} = n + z (h_{t-1} - n)
    h *= z
    h += n
    return h, hn


class GRU:
    """Gated recurrent unit over a (B, T, D) sequence, in PyTorch's formulation (nn.GRU):

        r_t = σ(x_t W_xr + b_xr + h_{t-1} W_hr + b_hr)          reset gate
        z_t = σ(x_t W_xz + b_xz + h_{t-1} W_hz + b_hz)          update gate
        n_t = tanh(x_t W_xn + b_xn + r_t * (h_{t-1} W_hn + b_hn))   candidate
        h_t = (1 - z_t) * n_t + z_t * h_{t-1},   h_0 = 0 unless given,

    with W_x (D, 3H), W_h (H, 3H), b_x (3H,) and b_h (3H,) whose columns are the
    gates in PyTorch's order [r | z | n]. So weights copy straight across:
    W_x = weight_ih_l0.T, W_h = weight_hh_l0.T, b_x = bias_ih_l0, b_h = bias_hh_l0.
    The two biases cannot be merged into one: r multiplies b_hn but not b_xn.

    Stateful for truncated BPTT exactly like ``RNN``: after ``forward`` the last
    hidden state is kept in ``self.state`` and the next ``forward`` starts from it,
    while ``backward`` only reaches back to the start of the current chunk (it
    returns ``dh0``). ``reset_state()`` starts over from h_0 = 0.
    """

    def __init__(self, W_x: np.ndarray, W_h: np.ndarray, b_x: np.ndarray, b_h: np.ndarray) -> None:
        self.params = {"W_x": W_x, "W_h": W_h, "b_x": b_x, "b_h": b_h}
        self.grads = {name: np.zeros_like(p) for name, p in self.params.items()}
        self.state: np.ndarray | None = None  # last hidden state (B, H), carried to the next chunk
        self.cache: tuple[np.ndarray, ...] | None = None
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
        a += self.params["b_x"]
        h, _ = gru_step(a, h, self.params["W_h"], self.params["b_h"])
        return h, h

    def forward(self, xs: np.ndarray, h0: np.ndarray | None = None) -> np.ndarray:
        """xs (B, T, D) -> hs (B, T, H). h0 (B, H) defaults to the carried state."""
        if h0 is None:
            h0 = self.initial_state(xs.shape[0]) if self.state is None else self.state
        hs, gates, hns, h = self._unroll(xs, h0)
        self.state = h.copy()
        self.cache = (xs, h0, hs, gates, hns)
        return hs.transpose(1, 0, 2)  # (B, T, H)

    def apply(self, xs: np.ndarray, h0: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """xs (B, T, D), h0 (B, H) (default zeros) -> (hs (B, T, H), h_T), pure: nothing
        cached and ``state`` untouched (see ``RNN.apply``)."""
        hs, _, _, h = self._unroll(xs, self.initial_state(xs.shape[0]) if h0 is None else h0)
        return hs.transpose(1, 0, 2), h.copy()

    def trace(self, xs: np.ndarray, h0: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Every per-step value the layer computes, by name, each (B, T, H): the output
        ``"h"`` and the gates ``"r"``, ``"z"``, ``"n"`` (activated). Pure like ``apply``;
        for looking inside a model (``elman.insight``)."""
        hs, gates, _, _ = self._unroll(xs, self.initial_state(xs.shape[0]) if h0 is None else h0)
        H = hs.shape[2]
        values = {"h": hs, **{k: gates[:, :, j * H : (j + 1) * H] for j, k in enumerate("rzn")}}
        return {k: v.transpose(1, 0, 2) for k, v in values.items()}

    def _unroll(self, xs: np.ndarray, h0: np.ndarray) -> tuple[np.ndarray, ...]:
        """The time loop: xs (B, T, D), h0 (B, H) -> time-major (hs, gates, hns) and h_T."""
        W_x, W_h, b_x, b_h = (self.params[k] for k in ("W_x", "W_h", "b_x", "b_h"))
        B, T, D = xs.shape
        H = W_h.shape[0]
        if h0.shape != (B, H):
            raise ValueError(
                f"expected a state of shape {(B, H)}, got {h0.shape}; "
                "call reset_state() when the batch size changes"
            )
        # The input projection of every step is one product; the loop only does
        # what depends on the previous step. Time-major (T, B, .) keeps each
        # step's rows contiguous.
        gates = (xs.reshape(B * T, D) @ W_x).reshape(B, T, 3 * H).transpose(1, 0, 2).copy()
        gates += b_x  # gates[t] holds x_t W_x + b_x until step t overwrites it with [r | z | n]
        hs = np.empty((T, B, H), gates.dtype)
        hns = np.empty((T, B, H), gates.dtype)  # h_{t-1} W_hn + b_hn, which r multiplied
        W_h = self.gemm.fixed(W_h, B)  # packed once for the T products (nn/products.py)
        h = h0
        for t in range(T):
            hs[t], hns[t] = gru_step(gates[t], h, W_h, b_h)
            h = hs[t]
        return hs, gates, hns, h

    def backward(
        self,
        dhs: np.ndarray,
        dh_last: np.ndarray | None = None,
        record: dict[str, np.ndarray] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """dhs (B, T, H), optional dh_last (B, H) from beyond the chunk -> (dxs, dh0).

        With a ``record`` dict, also puts there ``"h"``: dL/dh_t at every step (B, T, H),
        the whole gradient reaching h_t (see ``RNN.backward``)."""
        xs, h0, hs, gates, hns = self.cache
        W_x, W_h = self.params["W_x"], self.params["W_h"]
        B, T, D = xs.shape
        H = W_h.shape[0]
        dhs = dhs.transpose(1, 0, 2)  # (T, B, H) view
        da = np.empty_like(gates)  # da_t = dL/d(x_t W_x + b_x), [da_r | da_z | da_n]
        dg = np.empty((B, 3 * H), gates.dtype)  # dL/d(h_{t-1} W_h + b_h) at one step
        dh = np.zeros((B, H), hs.dtype) if dh_last is None else dh_last.copy()
        r, z, n = gates[:, :, :H], gates[:, :, H : 2 * H], gates[:, :, 2 * H :]
        h_prev = np.concatenate([h0[None], hs[:-1]])
        # Every factor that does not depend on the incoming gradient, for all steps at
        # once, so the loop below is a handful of small operations and one product.
        #   h_t = n + z (h_{t-1} - n):  [da_z | da_n]
        #                                 = dh_t * [(h_{t-1} - n) σ'(z) | (1 - z) tanh'(n)]
        #   n = tanh(a_n + r hn):       da_r = da_n * hn σ'(r)
        # with σ' = σ (1 - σ) and tanh' = 1 - tanh².
        da_zn_from_dh = np.empty((T, B, 2, H), gates.dtype)
        np.multiply(h_prev - n, z * (1 - z), out=da_zn_from_dh[:, :, 0])
        np.multiply(1 - z, 1 - n * n, out=da_zn_from_dh[:, :, 1])
        da_r_from_da_n = hns * r * (1 - r)
        da4 = da.reshape(T, B, 3, H)
        W_hT = self.gemm.fixed(W_h.T, B)
        dh_steps = None if record is None else np.empty_like(hs)  # (T, B, H)
        for t in reversed(range(T)):
            dh += dhs[t]
            if dh_steps is not None:
                dh_steps[t] = dh
            np.multiply(dh[:, None, :], da_zn_from_dh[t], out=da4[t, :, 1:])
            da_n = da4[t, :, 2]
            np.multiply(da_n, da_r_from_da_n[t], out=da4[t, :, 0])
            dg[:, : 2 * H] = da[t, :, : 2 * H]
            np.multiply(da_n, r[t], out=dg[:, 2 * H :])
            dh *= z[t]
            dh += dg @ W_hT
        # The weight gradients sum over all steps, so each is one product after the loop.
        self.grads["b_x"] += sum_columns(da)
        da_rows = da.transpose(1, 0, 2).reshape(B * T, 3 * H)  # back to batch-major rows
        self.grads["W_x"] += xs.reshape(B * T, D).T @ da_rows
        dxs = (da_rows @ W_x.T).reshape(B, T, D)
        # On the h side only the n block differs: r multiplies h_{t-1} W_hn + b_hn.
        # da_rows may be a view of da (B = 1 or T = 1), so this comes after its last use.
        da[:, :, 2 * H :] *= gates[:, :, :H]
        self.grads["b_h"] += sum_columns(da)
        self.grads["W_h"] += h_prev.reshape(-1, H).T @ da.reshape(-1, 3 * H)
        if record is not None:
            record["h"] = dh_steps.transpose(1, 0, 2)
        return dxs, dh
