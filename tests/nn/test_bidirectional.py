"""The bidirectional layer for RNN, LSTM and GRU against a naive computation from its two
directions, finite differences and torch's bidirectional nn.RNN/LSTM/GRU."""

import numpy as np
import pytest

from elman.nn.bidirectional import Bidirectional
from elman.nn.init import recurrent_layer
from tests.numeric import assert_close, numerical_gradient

CELLS = ["rnn", "rnn-relu", "lstm", "gru"]
D, H = 3, 4


def make_bidirectional(cell, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    layers = [recurrent_layer(cell, D, H, rng) for _ in range(2)]
    for layer in layers:  # random biases, so their gradients are checked away from zero
        for name, p in layer.params.items():
            p = p.astype(dtype)
            if name.startswith("b"):
                p += rng.normal(0, 0.3, p.shape)
            layer.params[name] = p
            layer.grads[name] = np.zeros_like(p)
    return Bidirectional(*layers)


def naive_forward(bi, xs):
    """The forward layer on xs and the reverse layer on xs flipped in time, flipped back,
    each from a zero state, side by side."""
    bi.reset_state()
    forward = bi.forward_layer.forward(xs).copy()
    reverse = bi.reverse_layer.forward(xs[:, ::-1].copy())[:, ::-1].copy()
    bi.reset_state()
    return np.concatenate([forward, reverse], axis=-1)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize(("B", "T"), [(2, 5), (1, 1)])
def test_forward_is_forward_then_reverse_direction(cell, B, T):
    """Output (B, T, 2H) = [forward | reverse], against the naive computation; both
    directions start from zero states, also when a state was left behind."""
    bi = make_bidirectional(cell)
    xs = np.random.default_rng(1).normal(size=(B, T, D))
    expected = naive_forward(bi, xs)
    bi.forward_layer.forward(np.ones((B, 2, D)))  # leave a carried state behind
    hs = bi.forward(xs)
    assert hs.shape == (B, T, 2 * H)
    assert_close(hs, expected, rtol=1e-12)
    assert_close(bi.forward(xs), expected, rtol=1e-12)  # and again: nothing carried
    assert bi.forward_layer.state is None and bi.reverse_layer.state is None


@pytest.mark.parametrize("cell", CELLS)
def test_reverse_half_reads_the_future(cell):
    """Changing the last input changes the reverse half at every position but the
    forward half only at the last one."""
    bi = make_bidirectional(cell)
    xs = np.random.default_rng(2).normal(size=(2, 4, D))
    before = bi.forward(xs)
    xs[:, -1] += 1.0
    after = bi.forward(xs)
    assert np.array_equal(before[:, :-1, :H], after[:, :-1, :H])
    assert np.all(np.any(before[:, :, H:] != after[:, :, H:], axis=(0, 2)))


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize(("B", "T"), [(2, 4), (1, 1)])
def test_backward_matches_finite_differences(cell, B, T):
    """dxs and every parameter of both directions, for sum(G * hs), against central
    differences in float64."""
    bi = make_bidirectional(cell, seed=3)
    rng = np.random.default_rng(4)
    xs, G = rng.normal(size=(B, T, D)), rng.normal(size=(B, T, 2 * H))

    def loss():
        return float((bi.forward(xs) * G).sum())

    loss()
    dxs, (dstate_forward, dstate_reverse) = bi.backward(G)
    assert dstate_forward is not None and dstate_reverse is not None
    assert_close(dxs, numerical_gradient(loss, xs))
    for direction, layer in bi.sublayers():
        for name in layer.params:
            expected = numerical_gradient(loss, layer.params[name])
            if T > 1 or name != "W_h":  # one step from h_0 = 0 never meets W_h
                assert np.abs(expected).max() > 0, f"{direction}.{name} has no effect"
            assert_close(layer.grads[name], expected)


@pytest.mark.parametrize("cell", CELLS)
def test_matches_torch_bidirectional(cell):
    """torch.nn.RNN/LSTM/GRU(bidirectional=True, batch_first=True) in float64 with our
    weights (the reverse direction as weight_ih_l0_reverse etc.): outputs, dxs and every
    weight gradient of sum(G * hs)."""
    torch = pytest.importorskip("torch")
    B, T = 3, 5
    bi = make_bidirectional(cell, seed=5)
    kwargs = {"batch_first": True, "bidirectional": True, "dtype": torch.float64}
    ref = {
        "rnn": lambda: torch.nn.RNN(D, H, nonlinearity="tanh", **kwargs),
        "rnn-relu": lambda: torch.nn.RNN(D, H, nonlinearity="relu", **kwargs),
        "lstm": lambda: torch.nn.LSTM(D, H, **kwargs),
        "gru": lambda: torch.nn.GRU(D, H, **kwargs),
    }[cell]()
    tparams = dict(ref.named_parameters())
    names = {}  # (direction, our name) -> (torch name, transposed)
    for direction, suffix in (("forward", ""), ("reverse", "_reverse")):
        names[direction, "W_x"] = (f"weight_ih_l0{suffix}", True)
        names[direction, "W_h"] = (f"weight_hh_l0{suffix}", True)
        if cell == "gru":
            names[direction, "b_x"] = (f"bias_ih_l0{suffix}", False)
            names[direction, "b_h"] = (f"bias_hh_l0{suffix}", False)
        else:
            names[direction, "b"] = (f"bias_ih_l0{suffix}", False)
    layers = dict(bi.sublayers())
    with torch.no_grad():
        for (direction, name), (tname, transposed) in names.items():
            value = layers[direction].params[name]
            tparams[tname].copy_(
                torch.from_numpy(np.ascontiguousarray(value.T if transposed else value))
            )
        if cell != "gru":
            tparams["bias_hh_l0"].zero_()
            tparams["bias_hh_l0_reverse"].zero_()

    rng = np.random.default_rng(6)
    xs, G = rng.normal(size=(B, T, D)), rng.normal(size=(B, T, 2 * H))
    t_xs = torch.from_numpy(xs.copy()).requires_grad_()
    t_hs, _ = ref(t_xs)
    (t_hs * torch.from_numpy(G)).sum().backward()

    hs = bi.forward(xs)
    dxs, _ = bi.backward(G)
    assert_close(hs, t_hs.detach().numpy(), rtol=1e-10, atol=1e-12)
    assert_close(dxs, t_xs.grad.numpy(), rtol=1e-10, atol=1e-12)
    for (direction, name), (tname, transposed) in names.items():
        expected = tparams[tname].grad.numpy()
        assert_close(
            layers[direction].grads[name],
            expected.T if transposed else expected,
            rtol=1e-10,
            atol=1e-12,
        )
