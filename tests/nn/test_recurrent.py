"""The RNN layer against a naive loop, finite differences and PyTorch's nn.RNN."""

import numpy as np
import pytest

from elman.nn import RNN
from elman.nn.products import NUMPY
from tests.numeric import assert_close, numerical_gradient


def make_rnn(rng, D=3, H=4, dtype=np.float64, nonlinearity="tanh", gemm=NUMPY):
    layer = RNN(
        rng.normal(0, 0.5, (D, H)).astype(dtype),
        rng.normal(0, 0.5, (H, H)).astype(dtype),
        rng.normal(0, 0.1, H).astype(dtype),
        nonlinearity,
    )
    layer.gemm = gemm
    return layer


def naive_forward(rnn, xs, h0):
    """h_t = φ(x_t W_x + h_{t-1} W_h + b), one step at a time, straight from the equation."""
    W_x, W_h, b = rnn.params["W_x"], rnn.params["W_h"], rnn.params["b"]
    phi = {"tanh": np.tanh, "relu": lambda a: np.maximum(a, 0)}[rnn.nonlinearity]
    h, hs = h0, []
    for t in range(xs.shape[1]):
        h = phi(xs[:, t] @ W_x + h @ W_h + b)
        hs.append(h)
    return np.stack(hs, axis=1)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("B,T", [(2, 5), (1, 1), (3, 1), (1, 4)])
def test_forward_matches_naive_loop(B, T, nonlinearity, gemm):
    rng = np.random.default_rng(0)
    rnn = make_rnn(rng, nonlinearity=nonlinearity, gemm=gemm)
    xs, h0 = rng.normal(size=(B, T, 3)), rng.normal(size=(B, 4))
    assert_close(rnn.forward(xs, h0), naive_forward(rnn, xs, h0), rtol=1e-12)


def test_h0_defaults_to_zero():
    rng = np.random.default_rng(1)
    rnn = make_rnn(rng)
    xs = rng.normal(size=(2, 3, 3))
    assert_close(rnn.forward(xs), naive_forward(rnn, xs, np.zeros((2, 4))), rtol=1e-12)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("B,T", [(2, 5), (1, 1), (3, 1), (1, 4)])
def test_backward_matches_finite_differences(B, T, nonlinearity, gemm):
    """dxs, dh0 and every parameter gradient, including a gradient arriving at the last state."""
    rng = np.random.default_rng(2)
    rnn = make_rnn(rng, nonlinearity=nonlinearity, gemm=gemm)
    xs, h0 = rng.normal(size=(B, T, 3)), rng.normal(size=(B, 4))
    G, G_last = rng.normal(size=(B, T, 4)), rng.normal(size=(B, 4))

    def loss():
        hs = rnn.forward(xs, h0)
        return float((hs * G).sum() + (hs[:, -1] * G_last).sum())

    loss()
    dxs, dh0 = rnn.backward(G, dh_last=G_last)
    assert_close(dxs, numerical_gradient(loss, xs))
    assert_close(dh0, numerical_gradient(loss, h0))
    for name in rnn.params:
        assert_close(rnn.grads[name], numerical_gradient(loss, rnn.params[name]))


def test_backward_accumulates():
    rng = np.random.default_rng(3)
    rnn = make_rnn(rng)
    xs, G = rng.normal(size=(2, 3, 3)), rng.normal(size=(2, 3, 4))
    rnn.forward(xs)
    rnn.backward(G)
    once = {k: g.copy() for k, g in rnn.grads.items()}
    rnn.reset_state()
    rnn.forward(xs)
    rnn.backward(G)
    for k in once:
        assert_close(rnn.grads[k], 2 * once[k])


def test_state_carries_across_chunks(gemm):
    """Two chunks read one after the other give the same states as one long forward."""
    rng = np.random.default_rng(4)
    rnn = make_rnn(rng, gemm=gemm)
    xs = rng.normal(size=(2, 7, 3))
    whole = rnn.forward(xs).copy()
    rnn.reset_state()
    first = rnn.forward(xs[:, :3]).copy()
    second = rnn.forward(xs[:, 3:]).copy()
    assert_close(np.concatenate([first, second], axis=1), whole, rtol=1e-12)
    rnn.reset_state()
    assert_close(rnn.forward(xs[:, :3]), first, rtol=1e-12)


def test_float32_stays_float32(gemm):
    rng = np.random.default_rng(5)
    rnn = make_rnn(rng, dtype=np.float32, gemm=gemm)
    hs = rnn.forward(rng.normal(size=(2, 3, 3)).astype(np.float32))
    dxs, dh0 = rnn.backward(np.ones_like(hs))
    assert hs.dtype == dxs.dtype == dh0.dtype == np.float32


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_matches_torch_rnn(nonlinearity, gemm):
    """Same weights in torch.nn.RNN: states, dxs, dh0 and weight gradients agree."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    rnn = make_rnn(rng, D=5, H=6, dtype=np.float32, nonlinearity=nonlinearity, gemm=gemm)
    xs = rng.normal(size=(3, 4, 5)).astype(np.float32)
    h0 = rng.normal(size=(3, 6)).astype(np.float32)
    G = rng.normal(size=(3, 4, 6)).astype(np.float32)

    ref = torch.nn.RNN(5, 6, nonlinearity=nonlinearity, batch_first=True)
    with torch.no_grad():
        ref.weight_ih_l0.copy_(torch.from_numpy(rnn.params["W_x"].T.copy()))
        ref.weight_hh_l0.copy_(torch.from_numpy(rnn.params["W_h"].T.copy()))
        ref.bias_ih_l0.copy_(torch.from_numpy(rnn.params["b"]))
        ref.bias_hh_l0.zero_()
    txs = torch.from_numpy(xs).requires_grad_()
    th0 = torch.from_numpy(h0)[None].requires_grad_()
    ths, _ = ref(txs, th0)
    (ths * torch.from_numpy(G)).sum().backward()

    hs = rnn.forward(xs, h0)
    dxs, dh0 = rnn.backward(G)
    tol = dict(rtol=1e-4, atol=1e-5)
    assert_close(hs, ths.detach().numpy(), **tol)
    assert_close(dxs, txs.grad.numpy(), **tol)
    assert_close(dh0, th0.grad[0].numpy(), **tol)
    assert_close(rnn.grads["W_x"], ref.weight_ih_l0.grad.numpy().T, **tol)
    assert_close(rnn.grads["W_h"], ref.weight_hh_l0.grad.numpy().T, **tol)
    assert_close(rnn.grads["b"], ref.bias_ih_l0.grad.numpy(), **tol)


def test_carried_state_of_another_batch_size_is_refused():
    rng = np.random.default_rng(7)
    rnn = make_rnn(rng)
    rnn.forward(rng.normal(size=(2, 3, 3)))
    with pytest.raises(ValueError, match="reset_state"):
        rnn.forward(rng.normal(size=(4, 3, 3)))
    rnn.reset_state()
    assert rnn.forward(rng.normal(size=(4, 3, 3))).shape == (4, 3, 4)


def test_step_equals_forward_one_step_at_a_time(gemm):
    rng = np.random.default_rng(8)
    rnn = make_rnn(rng, gemm=gemm)
    xs = rng.normal(size=(2, 4, 3))
    hs = rnn.forward(xs)
    h = rnn.initial_state(2)
    for t in range(4):
        out, h = rnn.step(xs[:, t], h)
        assert_close(out, hs[:, t], rtol=1e-12)
