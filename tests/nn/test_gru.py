"""The GRU layer against a naive loop, finite differences and PyTorch's nn.GRU."""

import numpy as np
import pytest

from elman.nn import GRU
from elman.nn.products import NUMPY
from tests.numeric import assert_close, numerical_gradient

SHAPES = [(2, 5), (1, 1), (3, 1), (1, 4)]


def make_gru(rng, D=3, H=4, dtype=np.float64, gemm=NUMPY):
    layer = GRU(
        rng.normal(0, 0.5, (D, 3 * H)).astype(dtype),
        rng.normal(0, 0.5, (H, 3 * H)).astype(dtype),
        rng.normal(0, 0.5, 3 * H).astype(dtype),
        rng.normal(0, 0.5, 3 * H).astype(dtype),
    )
    layer.gemm = gemm
    return layer


def naive_forward(gru, xs, h0):
    """One step at a time, each gate from its own weight slices, straight from the equations."""
    H = h0.shape[1]
    W_x, W_h, b_x, b_h = (gru.params[k] for k in ("W_x", "W_h", "b_x", "b_h"))
    W_xr, W_xz, W_xn = W_x[:, :H], W_x[:, H : 2 * H], W_x[:, 2 * H :]
    W_hr, W_hz, W_hn = W_h[:, :H], W_h[:, H : 2 * H], W_h[:, 2 * H :]
    b_xr, b_xz, b_xn = b_x[:H], b_x[H : 2 * H], b_x[2 * H :]
    b_hr, b_hz, b_hn = b_h[:H], b_h[H : 2 * H], b_h[2 * H :]

    def sigmoid(a):
        return 1 / (1 + np.exp(-a))

    h, hs = h0, []
    for t in range(xs.shape[1]):
        x = xs[:, t]
        r = sigmoid(x @ W_xr + b_xr + h @ W_hr + b_hr)
        z = sigmoid(x @ W_xz + b_xz + h @ W_hz + b_hz)
        n = np.tanh(x @ W_xn + b_xn + r * (h @ W_hn + b_hn))
        h = (1 - z) * n + z * h
        hs.append(h)
    return np.stack(hs, axis=1)


@pytest.mark.parametrize("B,T", SHAPES)
def test_forward_matches_naive_loop(B, T, gemm):
    rng = np.random.default_rng(0)
    gru = make_gru(rng, gemm=gemm)
    xs, h0 = rng.normal(size=(B, T, 3)), rng.normal(size=(B, 4))
    assert_close(gru.forward(xs, h0), naive_forward(gru, xs, h0), rtol=1e-12)


def test_h0_defaults_to_zero():
    rng = np.random.default_rng(1)
    gru = make_gru(rng)
    xs = rng.normal(size=(2, 3, 3))
    assert_close(gru.forward(xs), naive_forward(gru, xs, np.zeros((2, 4))), rtol=1e-12)


@pytest.mark.parametrize("B,T", SHAPES)
def test_backward_matches_finite_differences(B, T, gemm):
    """dxs, dh0 and every parameter gradient, including a gradient arriving at the last state."""
    rng = np.random.default_rng(2)
    gru = make_gru(rng, gemm=gemm)
    xs, h0 = rng.normal(size=(B, T, 3)), rng.normal(size=(B, 4))
    G, G_last = rng.normal(size=(B, T, 4)), rng.normal(size=(B, 4))

    def loss():
        hs = gru.forward(xs, h0)
        return float((hs * G).sum() + (hs[:, -1] * G_last).sum())

    loss()
    dxs, dh0 = gru.backward(G, dh_last=G_last)
    assert_close(dxs, numerical_gradient(loss, xs))
    assert_close(dh0, numerical_gradient(loss, h0))
    for name in gru.params:
        assert_close(gru.grads[name], numerical_gradient(loss, gru.params[name]))


def test_backward_accumulates():
    rng = np.random.default_rng(3)
    gru = make_gru(rng)
    xs, G = rng.normal(size=(2, 3, 3)), rng.normal(size=(2, 3, 4))
    gru.forward(xs)
    gru.backward(G)
    once = {k: g.copy() for k, g in gru.grads.items()}
    gru.reset_state()
    gru.forward(xs)
    gru.backward(G)
    for k in once:
        assert_close(gru.grads[k], 2 * once[k])


def test_state_carries_across_chunks(gemm):
    """Two chunks read one after the other give the same states as one long forward."""
    rng = np.random.default_rng(4)
    gru = make_gru(rng, gemm=gemm)
    xs = rng.normal(size=(2, 7, 3))
    whole = gru.forward(xs).copy()
    last_state = gru.state.copy()
    gru.reset_state()
    first = gru.forward(xs[:, :3]).copy()
    second = gru.forward(xs[:, 3:]).copy()
    assert_close(np.concatenate([first, second], axis=1), whole, rtol=1e-12)
    assert_close(gru.state, last_state, rtol=1e-12)
    gru.reset_state()
    assert_close(gru.forward(xs[:, :3]), first, rtol=1e-12)


def test_float32_stays_float32(gemm):
    rng = np.random.default_rng(5)
    gru = make_gru(rng, dtype=np.float32, gemm=gemm)
    hs = gru.forward(rng.normal(size=(2, 3, 3)).astype(np.float32))
    dxs, dh0 = gru.backward(np.ones_like(hs))
    out, h = gru.step(rng.normal(size=(2, 3)).astype(np.float32), gru.initial_state(2))
    assert hs.dtype == dxs.dtype == dh0.dtype == out.dtype == h.dtype == np.float32
    assert gru.state.dtype == np.float32
    assert all(g.dtype == np.float32 for g in gru.grads.values())


def test_saturated_gates_raise_no_warnings():
    """Pre-activations of ±1e4 saturate the sigmoids without overflow (errors are raised here)."""
    rng = np.random.default_rng(9)
    gru = make_gru(rng, dtype=np.float32)
    xs = (1e4 * rng.normal(size=(2, 3, 3))).astype(np.float32)
    with np.errstate(all="raise"):
        hs = gru.forward(xs)
        dxs, _ = gru.backward(np.ones_like(hs))
    assert np.isfinite(hs).all() and np.isfinite(dxs).all()
    assert np.abs(hs).max() <= 1


def _torch_gru(torch, gru):
    D, H = gru.params["W_x"].shape[0], gru.params["W_h"].shape[0]
    ref = torch.nn.GRU(D, H, batch_first=True)
    with torch.no_grad():
        ref.weight_ih_l0.copy_(torch.from_numpy(gru.params["W_x"].T.copy()))
        ref.weight_hh_l0.copy_(torch.from_numpy(gru.params["W_h"].T.copy()))
        ref.bias_ih_l0.copy_(torch.from_numpy(gru.params["b_x"]))
        ref.bias_hh_l0.copy_(torch.from_numpy(gru.params["b_h"]))
    return ref


def _assert_grads_match_torch(gru, ref, tol):
    assert_close(gru.grads["W_x"], ref.weight_ih_l0.grad.numpy().T, **tol)
    assert_close(gru.grads["W_h"], ref.weight_hh_l0.grad.numpy().T, **tol)
    assert_close(gru.grads["b_x"], ref.bias_ih_l0.grad.numpy(), **tol)
    assert_close(gru.grads["b_h"], ref.bias_hh_l0.grad.numpy(), **tol)


def test_matches_torch_gru(gemm):
    """Same weights (all biases nonzero) in torch.nn.GRU: states, dxs, dh0, weight gradients."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    gru = make_gru(rng, D=5, H=6, dtype=np.float32, gemm=gemm)
    xs = rng.normal(size=(3, 4, 5)).astype(np.float32)
    h0 = rng.normal(size=(3, 6)).astype(np.float32)
    G = rng.normal(size=(3, 4, 6)).astype(np.float32)
    G_last = rng.normal(size=(3, 6)).astype(np.float32)

    ref = _torch_gru(torch, gru)
    txs = torch.from_numpy(xs).requires_grad_()
    th0 = torch.from_numpy(h0)[None].requires_grad_()
    ths, th_last = ref(txs, th0)
    ((ths * torch.from_numpy(G)).sum() + (th_last[0] * torch.from_numpy(G_last)).sum()).backward()

    hs = gru.forward(xs, h0)
    dxs, dh0 = gru.backward(G, dh_last=G_last)
    tol = dict(rtol=1e-4, atol=1e-5)
    assert_close(hs, ths.detach().numpy(), **tol)
    assert_close(gru.state, th_last[0].detach().numpy(), **tol)
    assert_close(dxs, txs.grad.numpy(), **tol)
    assert_close(dh0, th0.grad[0].numpy(), **tol)
    _assert_grads_match_torch(gru, ref, tol)


def test_matches_torch_gru_over_two_chunks(gemm):
    """The second of two chunks, state carried here and detached in torch: states and gradients."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(10)
    gru = make_gru(rng, D=5, H=6, dtype=np.float32, gemm=gemm)
    xs = rng.normal(size=(3, 7, 5)).astype(np.float32)
    h0 = rng.normal(size=(3, 6)).astype(np.float32)
    G = rng.normal(size=(3, 4, 6)).astype(np.float32)
    G_last = rng.normal(size=(3, 6)).astype(np.float32)

    ref = _torch_gru(torch, gru)
    _, th1 = ref(torch.from_numpy(xs[:, :3]), torch.from_numpy(h0)[None])
    th1 = th1.detach().requires_grad_()  # truncated BPTT: the second chunk starts afresh
    txs = torch.from_numpy(xs[:, 3:].copy()).requires_grad_()
    ths, th_last = ref(txs, th1)
    ((ths * torch.from_numpy(G)).sum() + (th_last[0] * torch.from_numpy(G_last)).sum()).backward()

    gru.forward(xs[:, :3], h0)
    hs = gru.forward(xs[:, 3:])  # from the carried state
    dxs, dh1 = gru.backward(G, dh_last=G_last)
    tol = dict(rtol=1e-4, atol=1e-5)
    assert_close(hs, ths.detach().numpy(), **tol)
    assert_close(dxs, txs.grad.numpy(), **tol)
    assert_close(dh1, th1.grad[0].numpy(), **tol)
    _assert_grads_match_torch(gru, ref, tol)


def test_carried_state_of_another_batch_size_is_refused():
    rng = np.random.default_rng(7)
    gru = make_gru(rng)
    gru.forward(rng.normal(size=(2, 3, 3)))
    with pytest.raises(ValueError, match="reset_state"):
        gru.forward(rng.normal(size=(4, 3, 3)))
    gru.reset_state()
    assert gru.forward(rng.normal(size=(4, 3, 3))).shape == (4, 3, 4)


def test_step_equals_forward_one_step_at_a_time(gemm):
    """step() token by token gives forward's states, and leaves the carried state alone."""
    rng = np.random.default_rng(8)
    gru = make_gru(rng, gemm=gemm)
    xs = rng.normal(size=(2, 4, 3))
    hs = gru.forward(xs)
    carried = gru.state.copy()
    h = gru.initial_state(2)
    for t in range(4):
        out, h = gru.step(xs[:, t], h)
        assert_close(out, hs[:, t], rtol=1e-12)
    assert_close(gru.state, carried, rtol=0, atol=0)
