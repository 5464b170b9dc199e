"""What the recurrent layers show of their insides for ``elman.insight``: ``trace`` (every
per-step value) against the layer's own ``apply`` and a naive loop over the equations, and
``backward(record=...)`` (dL/dh_t and dL/dc_t at every step) against finite differences."""

import numpy as np
import pytest

from elman.nn import GRU, LSTM, RNN
from tests.numeric import assert_close, numerical_gradient

D, H = 3, 4


def make(cell, rng):
    def w(*shape):
        return rng.normal(0, 0.5, shape)

    if cell == "lstm":
        return LSTM(w(D, 4 * H), w(H, 4 * H), w(4 * H))
    if cell == "gru":
        return GRU(w(D, 3 * H), w(H, 3 * H), w(3 * H), w(3 * H))
    return RNN(w(D, H), w(H, H), w(H), "relu" if cell == "rnn-relu" else "tanh")


def sigmoid(a):
    return 1 / (1 + np.exp(-a))


def naive_trace(layer, xs, state0):
    """One step at a time, one gate at a time, from the equations in the docstrings."""
    p = layer.params
    out = {}

    def block(k, x, h, W_x, W_h):
        cols = slice(k * H, (k + 1) * H)
        return x @ W_x[:, cols], h @ W_h[:, cols]

    h, c = state0 if isinstance(layer, LSTM) else (state0, None)
    for t in range(xs.shape[1]):
        x = xs[:, t]
        if isinstance(layer, LSTM):
            a = [
                sum(block(k, x, h, p["W_x"], p["W_h"])) + p["b"][k * H : (k + 1) * H]
                for k in range(4)
            ]
            i, f, g, o = sigmoid(a[0]), sigmoid(a[1]), np.tanh(a[2]), sigmoid(a[3])
            c = f * c + i * g
            h = o * np.tanh(c)
            step = {"h": h, "c": c, "i": i, "f": f, "g": g, "o": o}
        elif isinstance(layer, GRU):
            bx, bh = p["b_x"], p["b_h"]
            ax = [block(k, x, h, p["W_x"], p["W_h"])[0] + bx[k * H : (k + 1) * H] for k in range(3)]
            ah = [block(k, x, h, p["W_x"], p["W_h"])[1] + bh[k * H : (k + 1) * H] for k in range(3)]
            r, z = sigmoid(ax[0] + ah[0]), sigmoid(ax[1] + ah[1])
            n = np.tanh(ax[2] + r * ah[2])
            h = (1 - z) * n + z * h
            step = {"h": h, "r": r, "z": z, "n": n}
        else:
            a = x @ p["W_x"] + h @ p["W_h"] + p["b"]
            h = np.maximum(a, 0) if layer.nonlinearity == "relu" else np.tanh(a)
            step = {"h": h}
        for name, value in step.items():
            out.setdefault(name, []).append(value)
    return {name: np.stack(values, axis=1) for name, values in out.items()}


def random_state(layer, rng, B):
    if isinstance(layer, LSTM):
        return rng.normal(size=(B, H)), rng.normal(size=(B, H))
    return rng.normal(size=(B, H))


CELLS = ["rnn", "rnn-relu", "lstm", "gru"]
NAMES = {"rnn": "h", "rnn-relu": "h", "lstm": "hcifgo", "gru": "hrzn"}


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("B,T", [(2, 5), (1, 1)])
def test_trace_matches_naive_loop_and_apply(cell, B, T):
    rng = np.random.default_rng(0)
    layer = make(cell, rng)
    xs, state0 = rng.normal(size=(B, T, D)), random_state(layer, rng, B)
    traced = layer.trace(xs, state0)
    assert list(traced) == list(NAMES[cell])  # PyTorch's gate order, after h (and c)
    expected = naive_trace(layer, xs, state0)
    for name in traced:
        assert traced[name].shape == (B, T, H)
        assert_close(traced[name], expected[name], rtol=1e-12)
    assert_close(traced["h"], layer.apply(xs, state0)[0], rtol=1e-12)
    assert layer.state is None and layer.cache is None  # pure


@pytest.mark.parametrize("cell", CELLS)
def test_backward_records_the_whole_gradient_at_every_step(cell):
    """record["h"][:, t] is dL/dh_t: L's change when h_t moves and every later step (the
    layer run from h_t by its own ``apply``) follows; record["c"] likewise for c_t, with
    h_t = o_t tanh(c_t) following c_t."""
    rng = np.random.default_rng(1)
    B, T = 2, 6
    layer = make(cell, rng)
    xs, state0 = rng.normal(size=(B, T, D)), random_state(layer, rng, B)
    dhs = rng.normal(size=(B, T, H))
    layer.forward(xs, state0)
    record = {}
    _, dstate0 = layer.backward(dhs, record=record)
    layer.backward(dhs)  # the same call without a record returns the same
    lstm = isinstance(layer, LSTM)
    assert sorted(record) == (["c", "h"] if lstm else ["h"])
    traced = layer.trace(xs, state0)

    def loss_from(t, h, c=None):
        """L = sum_s dhs_s . h_s, for s >= t, with the state at step t set to (h, c)."""
        later, _ = layer.apply(xs[:, t + 1 :], (h, c) if lstm else h)
        return float((dhs[:, t] * h).sum() + (dhs[:, t + 1 :] * later).sum())

    for t in (0, 2, T - 1):
        h, c = traced["h"][:, t].copy(), traced["c"][:, t].copy() if lstm else None
        expected = numerical_gradient(lambda h=h, c=c, t=t: loss_from(t, h, c), h)
        assert_close(record["h"][:, t], expected, rtol=1e-6)
        if lstm:
            o = traced["o"][:, t]

            def through_c(t=t, c=c, o=o):
                return loss_from(t, o * np.tanh(c), c)

            assert_close(record["c"][:, t], numerical_gradient(through_c, c), rtol=1e-6)
    # Step 0's recorded gradient is one step from dh0, which backward returned as before.
    if not lstm:
        expected0 = numerical_gradient(
            lambda: float((dhs * layer.apply(xs, state0)[0]).sum()), state0
        )
        assert_close(dstate0, expected0, rtol=1e-6)
