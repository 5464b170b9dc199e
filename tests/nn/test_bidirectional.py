"""The bidirectional layer for RNN, LSTM and GRU against a naive computation from its two
directions, finite differences and torch's bidirectional nn.RNN/LSTM/GRU."""

import numpy as np
import pytest

from elman.nn.bidirectional import Bidirectional, reversal
from elman.nn.init import recurrent_layer
from elman.nn.products import NUMPY
from tests.numeric import assert_close, numerical_gradient
from tests.torch_reference import grads_from, load_into

CELLS = ["rnn", "rnn-relu", "lstm", "gru"]
D, H = 3, 4


def make_bidirectional(cell, seed=0, dtype=np.float64, gemm=NUMPY):
    rng = np.random.default_rng(seed)
    layers = [recurrent_layer(cell, D, H, rng) for _ in range(2)]
    for layer in layers:  # random biases, so their gradients are checked away from zero
        layer.gemm = gemm
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
def test_forward_is_forward_then_reverse_direction(cell, B, T, gemm):
    """Output (B, T, 2H) = [forward | reverse], against the naive computation; both
    directions start from zero states, also when a state was left behind."""
    bi = make_bidirectional(cell, gemm=gemm)
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
def test_backward_matches_finite_differences(cell, B, T, gemm):
    """dxs and every parameter of both directions, for sum(G * hs), against central
    differences in float64."""
    bi = make_bidirectional(cell, seed=3, gemm=gemm)
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
def test_matches_torch_bidirectional(cell, gemm):
    """torch.nn.RNN/LSTM/GRU(bidirectional=True, batch_first=True) in float64 with our
    weights (the reverse direction as weight_ih_l0_reverse etc.): outputs, dxs and every
    weight gradient of sum(G * hs)."""
    torch = pytest.importorskip("torch")
    B, T = 3, 5
    bi = make_bidirectional(cell, seed=5, gemm=gemm)
    kwargs = {"batch_first": True, "bidirectional": True, "dtype": torch.float64}
    ref = {
        "rnn": lambda: torch.nn.RNN(D, H, nonlinearity="tanh", **kwargs),
        "rnn-relu": lambda: torch.nn.RNN(D, H, nonlinearity="relu", **kwargs),
        "lstm": lambda: torch.nn.LSTM(D, H, **kwargs),
        "gru": lambda: torch.nn.GRU(D, H, **kwargs),
    }[cell]()
    layers = dict(bi.sublayers())
    params = elman_names(layers, "params")
    load_into(torch, ref, params, prefix="rnn.")

    rng = np.random.default_rng(6)
    xs, G = rng.normal(size=(B, T, D)), rng.normal(size=(B, T, 2 * H))
    t_xs = torch.from_numpy(xs.copy()).requires_grad_()
    t_hs, _ = ref(t_xs)
    (t_hs * torch.from_numpy(G)).sum().backward()

    hs = bi.forward(xs)
    dxs, _ = bi.backward(G)
    assert_close(hs, t_hs.detach().numpy(), rtol=1e-10, atol=1e-12)
    assert_close(dxs, t_xs.grad.numpy(), rtol=1e-10, atol=1e-12)
    ours = elman_names(layers, "grads")
    for name, expected in grads_from(ref, params, prefix="rnn.").items():
        assert_close(ours[name], expected, rtol=1e-10, atol=1e-12)


# Right-padded batches: each sequence read as if alone --------------------------------

LENGTHS = np.array([5, 3, 1])


def test_reversal_reads_each_sequence_backwards_and_undoes_itself():
    order = reversal(np.array([5, 3, 1]), 5)
    assert order.tolist() == [[4, 3, 2, 1, 0], [2, 1, 0, 3, 4], [0, 1, 2, 3, 4]]
    rows = np.arange(3)[:, None]
    assert np.array_equal(order[rows, order], np.broadcast_to(np.arange(5), (3, 5)))


@pytest.mark.parametrize("cell", CELLS)
def test_padded_forward_equals_each_sequence_alone(cell, gemm):
    """With lengths, the outputs at every real step equal those of the sequence run on
    its own (no padding), whatever the padding holds."""
    bi = make_bidirectional(cell, gemm=gemm)
    rng = np.random.default_rng(7)
    B, T = len(LENGTHS), LENGTHS.max()
    xs = rng.normal(size=(B, T, D))
    for b, n in enumerate(LENGTHS):
        xs[b, n:] = 100.0  # padding that would change everything if it were read
    hs = bi.forward(xs, LENGTHS)
    for b, n in enumerate(LENGTHS):
        alone = bi.forward(xs[b : b + 1, :n])
        assert_close(hs[b : b + 1, :n], alone, rtol=1e-12)
    assert bi.forward_layer.state is None and bi.reverse_layer.state is None


@pytest.mark.parametrize("cell", CELLS)
def test_padded_backward_matches_finite_differences(cell, gemm):
    """dxs and every parameter for sum(G * hs * mask), lengths given; the gradient at
    padded inputs is exactly zero."""
    bi = make_bidirectional(cell, seed=8, gemm=gemm)
    rng = np.random.default_rng(9)
    B, T = len(LENGTHS), LENGTHS.max()
    xs = rng.normal(size=(B, T, D))
    mask = (np.arange(T) < LENGTHS[:, None])[..., None]
    G = rng.normal(size=(B, T, 2 * H)) * mask

    def loss():
        return float((bi.forward(xs, LENGTHS) * G).sum())

    loss()
    dxs, _ = bi.backward(G)
    assert_close(dxs, numerical_gradient(loss, xs))
    assert not dxs[~mask[..., 0]].any()
    for _, layer in bi.sublayers():
        for name in layer.params:
            assert_close(layer.grads[name], numerical_gradient(loss, layer.params[name]))


def elman_names(layers: dict, what: str) -> dict:
    """The two directions' params or grads under a model's names, "rnn.0.forward.W_x"."""
    return {
        f"rnn.0.{direction}.{key}": value
        for direction, layer in layers.items()
        for key, value in getattr(layer, what).items()
    }


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_padded_matches_torch_packed_sequence(cell, gemm):
    """torch's bidirectional LSTM/GRU over ``pack_padded_sequence`` on identical weights:
    outputs at the real steps, the final states h_n of both directions (our forward half
    at the last real step, reverse half at t = 0), and dxs and weight gradients."""
    torch = pytest.importorskip("torch")
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    bi = make_bidirectional(cell, seed=10, gemm=gemm)
    kwargs = {"batch_first": True, "bidirectional": True, "dtype": torch.float64}
    ref = (torch.nn.LSTM if cell == "lstm" else torch.nn.GRU)(D, H, **kwargs)
    layers = dict(bi.sublayers())
    params = elman_names(layers, "params")
    load_into(torch, ref, params, prefix="rnn.")
    rng = np.random.default_rng(11)
    B, T = len(LENGTHS), LENGTHS.max()
    xs = rng.normal(size=(B, T, D))
    mask = (np.arange(T) < LENGTHS[:, None])[..., None]
    G = rng.normal(size=(B, T, 2 * H)) * mask

    t_xs = torch.from_numpy(xs.copy()).requires_grad_()
    packed = pack_padded_sequence(t_xs, torch.from_numpy(LENGTHS), batch_first=True)
    t_out, t_state = ref(packed)
    t_hs, _ = pad_packed_sequence(t_out, batch_first=True, total_length=T)
    (t_hs * torch.from_numpy(G)).sum().backward()
    h_n = (t_state[0] if cell == "lstm" else t_state).detach().numpy()  # (2, B, H)

    hs = bi.forward(xs, LENGTHS)
    assert_close(hs * mask, t_hs.detach().numpy(), rtol=1e-10, atol=1e-12)
    assert_close(hs[np.arange(B), LENGTHS - 1, :H], h_n[0], rtol=1e-10, atol=1e-12)
    assert_close(hs[:, 0, H:], h_n[1], rtol=1e-10, atol=1e-12)
    dxs, _ = bi.backward(G)
    assert_close(dxs, t_xs.grad.numpy(), rtol=1e-10, atol=1e-12)
    ours = elman_names(layers, "grads")
    for name, expected in grads_from(ref, params, prefix="rnn.").items():
        assert_close(ours[name], expected, rtol=1e-9)
