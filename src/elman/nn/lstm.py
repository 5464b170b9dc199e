"""The LSTM layer, unrolled over a whole sequence, with PyTorch's gate order and equations."""

from __future__ import annotations

from functools import cache

import numpy as np

from elman.nn.products import NUMPY, Gemm
from elman.nn.recurrent import zero_rows
from elman.nn.sums import sum_columns

LSTMState = tuple[np.ndarray, np.ndarray]  # (h, c), each (B, H)


@cache
def _gate_affine(H: int, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """(scale, shift) over the gate block [i | f | g | o], see ``activate_gates``."""
    half, one, zero = np.full(H, 0.5, dtype), np.ones(H, dtype), np.zeros(H, dtype)
    scale = np.concatenate([half, half, one, half])
    shift = np.concatenate([half, half, zero, half])
    scale.flags.writeable = shift.flags.writeable = False
    return scale, shift


def activate_gates(a: np.ndarray) -> np.ndarray:
    """[i | f | g | o] pre-activations (..., 4H) -> [σ | σ | tanh | σ] of them, in place.

    σ(x) = (1 + tanh(x/2)) / 2, so the whole block is one tanh between two
    per-column affine maps: σ columns 0.5 tanh(0.5 a) + 0.5, g columns 1 tanh(1 a) + 0.
    Four array operations instead of one per gate (the time loop is dominated by
    the number of operations, not their size), and nothing can overflow.
    """
    scale, shift = _gate_affine(a.shape[-1] // 4, a.dtype)
    a *= scale
    np.tanh(a, out=a)
    a *= scale
    a += shift
    return a


def lstm_step(
    a_t: np.ndarray,
    h_prev: np.ndarray,
    c_prev: np.ndarray,
    W_h: np.ndarray,
    out: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One LSTM step, given a_t = x_t W_x + b (B, 4H) -> (h_t, c_t, tanh(c_t)), each (B, H).

    Overwrites ``a_t`` with the activated gates [i | f | g | o], which is what
    backward needs, and writes into ``out`` (three (B, H) arrays) when given. The
    layer's time loop and generation both use this function, so they cannot drift
    apart.
    """
    a_t += h_prev @ W_h
    activate_gates(a_t)
    H = h_prev.shape[1]
    i, f, g, o = (a_t[:, k * H : (k + 1) * H] for k in range(4))  # np.split costs 4x more
    h, c, tanh_c = np.empty((3, *h_prev.shape), a_t.dtype) if out is None else out
    np.multiply(f, c_prev, out=c)
    np.multiply(i, g, out=h)  # h is scratch space until the last line
    c += h
    np.tanh(c, out=tanh_c)
    np.multiply(o, tanh_c, out=h)
    return h, c, tanh_c


class LSTM:
    """Long short-term memory (Hochreiter & Schmidhuber 1997, with the forget gate of
    Gers et al. 2000) over a (B, T, D) sequence, exactly as ``torch.nn.LSTM``:

        i_t = σ(x_t W_xi + h_{t-1} W_hi + b_i)      input gate
        f_t = σ(x_t W_xf + h_{t-1} W_hf + b_f)      forget gate
        g_t = tanh(x_t W_xg + h_{t-1} W_hg + b_g)   candidate cell
        o_t = σ(x_t W_xo + h_{t-1} W_ho + b_o)      output gate
        c_t = f_t * c_{t-1} + i_t * g_t
        h_t = o_t * tanh(c_t),                      (h_0, c_0) = 0 unless given.

    W_x (D, 4H), W_h (H, 4H) and b (4H,) hold the gates side by side in
    PyTorch's order [i | f | g | o], so weights copy straight across:
    ``W_x = weight_ih_l0.T``, ``W_h = weight_hh_l0.T``,
    ``b = bias_ih_l0 + bias_hh_l0`` (the two biases are redundant; one is kept).

    The state is the pair (h, c). Stateful for truncated BPTT like ``RNN``: after
    ``forward`` the last (h, c) is kept in ``self.state`` and the next ``forward``
    starts from it, while ``backward`` only reaches back to the start of the
    current chunk (it returns (dh0, dc0) and the model drops it).
    ``reset_state()`` starts over from zeros.
    """

    def __init__(self, W_x: np.ndarray, W_h: np.ndarray, b: np.ndarray) -> None:
        self.params = {"W_x": W_x, "W_h": W_h, "b": b}
        self.grads = {name: np.zeros_like(p) for name, p in self.params.items()}
        self.state: LSTMState | None = None  # last (h, c), carried to the next chunk
        self.cache: tuple[np.ndarray, ...] | None = None
        self.gemm: Gemm = NUMPY  # who computes the time loops' products (nn/products.py)

    def reset_state(self, rows: np.ndarray | None = None) -> None:
        """Start over from (h_0, c_0) = (0, 0): every stream, or only the streams where
        the (B,) boolean ``rows`` is True (the others carry on)."""
        if rows is None or self.state is None:
            self.state = None
        else:
            h, c = self.state
            self.state = (zero_rows(h, rows), zero_rows(c, rows))

    def initial_state(self, batch: int) -> LSTMState:
        """(h_0, c_0) = (0, 0), each (B, H)."""
        W_h = self.params["W_h"]
        shape = (batch, W_h.shape[0])
        return np.zeros(shape, W_h.dtype), np.zeros(shape, W_h.dtype)

    def step(self, x: np.ndarray, state: LSTMState) -> tuple[np.ndarray, LSTMState]:
        """One step, pure (nothing cached): x (B, D), (h, c) -> output h_t, state (h_t, c_t)."""
        a = x @ self.params["W_x"]
        a += self.params["b"]
        h, c, _ = lstm_step(a, *state, self.params["W_h"])
        return h, (h, c)

    def forward(self, xs: np.ndarray, state0: LSTMState | None = None) -> np.ndarray:
        """xs (B, T, D) -> hs (B, T, H). state0 (h0, c0) defaults to the carried state."""
        if state0 is None:
            state0 = self.initial_state(xs.shape[0]) if self.state is None else self.state
        xs_tm, gates, hs, cs, tanh_cs, (h, c) = self._unroll(xs, state0)
        self.state = (h.copy(), c.copy())
        self.cache = (xs_tm, *state0, gates, cs, tanh_cs, hs)
        return hs.transpose(1, 0, 2)  # (B, T, H)

    def apply(
        self, xs: np.ndarray, state0: LSTMState | None = None
    ) -> tuple[np.ndarray, LSTMState]:
        """xs (B, T, D), (h0, c0) (default zeros) -> (hs (B, T, H), (h_T, c_T)), pure:
        nothing cached and ``state`` untouched (see ``RNN.apply``)."""
        state0 = self.initial_state(xs.shape[0]) if state0 is None else state0
        *_, hs, _, _, (h, c) = self._unroll(xs, state0)
        return hs.transpose(1, 0, 2), (h.copy(), c.copy())

    def trace(self, xs: np.ndarray, state0: LSTMState | None = None) -> dict[str, np.ndarray]:
        """Every per-step value the layer computes, by name, each (B, T, H): the output
        ``"h"``, the cell ``"c"`` and the gates ``"i"``, ``"f"``, ``"g"``, ``"o"``
        (activated). Pure like ``apply``; for looking inside a model (``elman.insight``)."""
        state0 = self.initial_state(xs.shape[0]) if state0 is None else state0
        _, gates, hs, cs, _, _ = self._unroll(xs, state0)
        H = hs.shape[2]
        values = {"h": hs, "c": cs}
        values.update({k: gates[:, :, j * H : (j + 1) * H] for j, k in enumerate("ifgo")})
        return {k: v.transpose(1, 0, 2) for k, v in values.items()}

    def _unroll(self, xs: np.ndarray, state0: LSTMState) -> tuple[np.ndarray, ...]:
        """The time loop: xs (B, T, D), (h0, c0) -> time-major (xs, gates, hs, cs, tanh_cs)
        and the last state (h_T, c_T)."""
        W_x, W_h, b = self.params["W_x"], self.params["W_h"], self.params["b"]
        B, T, D = xs.shape
        H = W_h.shape[0]
        h0, c0 = state0
        if h0.shape != (B, H) or c0.shape != (B, H):
            raise ValueError(
                f"expected a state of shape {(B, H)} for both h and c, got {h0.shape} and "
                f"{c0.shape}; call reset_state() when the batch size changes"
            )
        # The input projection of every step is one product; the loop only does
        # what depends on the previous step. Time-major (T, B, .) keeps each
        # step's rows contiguous; transposing the inputs (D wide) is cheaper than
        # transposing the gates (4H wide).
        xs_tm = xs.transpose(1, 0, 2).reshape(T * B, D)
        gates = (xs_tm @ W_x).reshape(T, B, 4 * H)
        gates += b  # x_t W_x + b until step t overwrites it with the activated gates
        hs, cs, tanh_cs = np.empty((3, T, B, H), gates.dtype)
        W_h = self.gemm.fixed(W_h, B)  # packed once for the T products (nn/products.py)
        h, c = h0, c0
        for t in range(T):
            h, c, _ = lstm_step(gates[t], h, c, W_h, out=(hs[t], cs[t], tanh_cs[t]))
        return xs_tm, gates, hs, cs, tanh_cs, (h, c)

    def backward(
        self,
        dhs: np.ndarray,
        dstate_last: LSTMState | None = None,
        record: dict[str, np.ndarray] | None = None,
    ) -> tuple[np.ndarray, LSTMState]:
        """dhs (B, T, H), optional (dh_T, dc_T) from beyond the chunk -> (dxs, (dh0, dc0)).

        With a ``record`` dict, also puts there ``"h"`` and ``"c"``: dL/dh_t and dL/dc_t at
        every step (B, T, H), the whole gradient reaching each (see ``RNN.backward``)."""
        xs_tm, h0, c0, gates, cs, tanh_cs, hs = self.cache
        W_x, W_h = self.params["W_x"], self.params["W_h"]
        T, B, H4 = gates.shape
        H, D = H4 // 4, xs_tm.shape[1]
        dhs = dhs.transpose(1, 0, 2)  # (T, B, H) view
        i, f, g, o = (gates[:, :, k * H : (k + 1) * H] for k in range(4))
        c_prev = np.concatenate([c0[None], cs[:-1]])
        # Every factor that does not depend on the incoming gradient, for all steps
        # at once, so the loop below is six small operations and one product.
        #   h_t = o tanh(c_t):      dc_t += dh_t * o (1 - tanh²(c_t))
        #                           da_o = dh_t * tanh(c_t) σ'(o)
        #   c_t = f c_{t-1} + i g:  [da_i | da_f | da_g]
        #                             = dc_t * [g σ'(i) | c_{t-1} σ'(f) | i tanh'(g)]
        # with σ' = σ (1 - σ) and tanh' = 1 - tanh².
        dc_from_dh = o * (1 - tanh_cs * tanh_cs)
        da_o_from_dh = tanh_cs * o * (1 - o)
        da_ifg_from_dc = np.empty((T, B, 3, H), gates.dtype)
        np.multiply(g, i * (1 - i), out=da_ifg_from_dc[:, :, 0])
        np.multiply(c_prev, f * (1 - f), out=da_ifg_from_dc[:, :, 1])
        np.multiply(i, 1 - g * g, out=da_ifg_from_dc[:, :, 2])

        da = np.empty_like(gates)  # da_t = dL/d(pre-activations of [i | f | g | o] at t)
        da4 = da.reshape(T, B, 4, H)
        if dstate_last is None:
            dh, dc = np.zeros((B, H), gates.dtype), np.zeros((B, H), gates.dtype)
        else:
            dh, dc = (d.copy() for d in dstate_last)
        W_hT = self.gemm.fixed(W_h.T, B)
        dh_steps, dc_steps = (None, None) if record is None else np.empty((2, T, B, H), dh.dtype)
        for t in reversed(range(T)):
            dh += dhs[t]
            if dh_steps is not None:
                dh_steps[t] = dh
            np.multiply(dh, da_o_from_dh[t], out=da4[t, :, 3])
            dh *= dc_from_dh[t]  # dh is scratch until the product at the end
            dc += dh
            if dc_steps is not None:
                dc_steps[t] = dc
            np.multiply(dc[:, None, :], da_ifg_from_dc[t], out=da4[t, :, :3])
            dc *= f[t]
            np.matmul(da[t], W_hT, out=dh)
        # The weight gradients sum over all steps, so each is one product after the loop.
        da_rows = da.reshape(T * B, H4)
        self.grads["W_h"] += h0.T @ da[0]
        if T > 1:
            self.grads["W_h"] += hs[:-1].reshape(-1, H).T @ da_rows[B:]
        self.grads["b"] += sum_columns(da_rows)
        self.grads["W_x"] += xs_tm.T @ da_rows
        dxs = (da_rows @ W_x.T).reshape(T, B, D).transpose(1, 0, 2)
        if record is not None:
            record["h"], record["c"] = dh_steps.transpose(1, 0, 2), dc_steps.transpose(1, 0, 2)
        return dxs, (dh, dc)
