"""The LSTM layer, unrolled over a whole sequence, with PyTorch's gate order and equations."""

from __future__ import annotations

import numpy as np

from elman.nn.activations import sigmoid

LSTMState = tuple[np.ndarray, np.ndarray]  # (h, c), each (B, H)


def lstm_step(
    a_t: np.ndarray, h_prev: np.ndarray, c_prev: np.ndarray, W_h: np.ndarray
) -> LSTMState:
    """One LSTM step, given a_t = x_t W_x + b (B, 4H) -> (h_t, c_t), each (B, H).

    Overwrites ``a_t`` with the activated gates [i | f | g | o], which is what
    backward needs. The layer's time loop and generation both use this
    function, so they cannot drift apart.
    """
    a_t += h_prev @ W_h
    H = h_prev.shape[1]
    sigmoid(a_t[:, : 2 * H], out=a_t[:, : 2 * H])  # i, f
    np.tanh(a_t[:, 2 * H : 3 * H], out=a_t[:, 2 * H : 3 * H])  # g
    sigmoid(a_t[:, 3 * H :], out=a_t[:, 3 * H :])  # o
    i, f, g, o = np.split(a_t, 4, axis=1)
    c = f * c_prev
    c += i * g
    h = np.tanh(c)
    h *= o
    return h, c


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

    def reset_state(self) -> None:
        self.state = None

    def initial_state(self, batch: int) -> LSTMState:
        """(h_0, c_0) = (0, 0), each (B, H)."""
        W_h = self.params["W_h"]
        shape = (batch, W_h.shape[0])
        return np.zeros(shape, W_h.dtype), np.zeros(shape, W_h.dtype)

    def step(self, x: np.ndarray, state: LSTMState) -> tuple[np.ndarray, LSTMState]:
        """One step, pure (nothing cached): x (B, D), (h, c) -> output h_t, state (h_t, c_t)."""
        a = x @ self.params["W_x"]
        a += self.params["b"]
        h, c = lstm_step(a, *state, self.params["W_h"])
        return h, (h, c)

    def forward(self, xs: np.ndarray, state0: LSTMState | None = None) -> np.ndarray:
        """xs (B, T, D) -> hs (B, T, H). state0 (h0, c0) defaults to the carried state."""
        W_x, W_h, b = self.params["W_x"], self.params["W_h"], self.params["b"]
        B, T, D = xs.shape
        H = W_h.shape[0]
        if state0 is None:
            state0 = self.initial_state(B) if self.state is None else self.state
        h0, c0 = state0
        if h0.shape != (B, H) or c0.shape != (B, H):
            raise ValueError(
                f"expected a state of shape {(B, H)} for both h and c, got {h0.shape} and "
                f"{c0.shape}; call reset_state() when the batch size changes"
            )
        # The input projection of every step is one product; the loop only does
        # what depends on the previous step. Time-major (T, B, .) keeps each
        # step's rows contiguous.
        gates = (xs.reshape(B * T, D) @ W_x).reshape(B, T, 4 * H).transpose(1, 0, 2).copy()
        gates += b  # x_t W_x + b until step t overwrites it with the activated gates
        hs = np.empty((T, B, H), gates.dtype)
        cs = np.empty((T, B, H), gates.dtype)
        h, c = h0, c0
        for t in range(T):
            h, c = lstm_step(gates[t], h, c, W_h)
            hs[t], cs[t] = h, c
        self.state = (h.copy(), c.copy())
        self.cache = (xs, h0, c0, gates, cs, hs)
        return hs.transpose(1, 0, 2)  # (B, T, H)

    def backward(
        self, dhs: np.ndarray, dstate_last: LSTMState | None = None
    ) -> tuple[np.ndarray, LSTMState]:
        """dhs (B, T, H), optional (dh_T, dc_T) from beyond the chunk -> (dxs, (dh0, dc0))."""
        xs, h0, c0, gates, cs, hs = self.cache
        W_x, W_h = self.params["W_x"], self.params["W_h"]
        B, T, D = xs.shape
        H = W_h.shape[0]
        dhs = dhs.transpose(1, 0, 2)  # (T, B, H) view
        tanh_cs = np.tanh(cs)  # cheaper to recompute than to cache
        da = np.empty_like(gates)  # da_t = dL/d(pre-activations of [i | f | g | o] at t)
        if dstate_last is None:
            dh, dc = np.zeros((B, H), gates.dtype), np.zeros((B, H), gates.dtype)
        else:
            dh, dc = (d.copy() for d in dstate_last)
        for t in reversed(range(T)):
            i, f, g, o = np.split(gates[t], 4, axis=1)
            da_i, da_f, da_g, da_o = np.split(da[t], 4, axis=1)
            c_prev = cs[t - 1] if t > 0 else c0
            tanh_c = tanh_cs[t]
            dh += dhs[t]
            # h_t = o * tanh(c_t); σ'(a) = σ(1 - σ), tanh'(a) = 1 - tanh^2
            np.multiply(dh * tanh_c, o * (1 - o), out=da_o)
            dc += dh * o * (1 - tanh_c * tanh_c)
            # c_t = f * c_{t-1} + i * g
            np.multiply(dc * g, i * (1 - i), out=da_i)
            np.multiply(dc * c_prev, f * (1 - f), out=da_f)
            np.multiply(dc * i, 1 - g * g, out=da_g)
            dc *= f
            dh = da[t] @ W_h.T
        # The weight gradients sum over all steps, so each is one product after the loop.
        self.grads["W_h"] += h0.T @ da[0]
        if T > 1:
            self.grads["W_h"] += hs[:-1].reshape(-1, H).T @ da[1:].reshape(-1, 4 * H)
        self.grads["b"] += da.sum(axis=(0, 1))
        da = da.transpose(1, 0, 2).reshape(B * T, 4 * H)  # back to batch-major rows
        self.grads["W_x"] += xs.reshape(B * T, D).T @ da
        dxs = (da @ W_x.T).reshape(B, T, D)
        return dxs, (dh, dc)
