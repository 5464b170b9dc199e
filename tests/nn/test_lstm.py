"""The LSTM layer against a naive loop, finite differences and PyTorch's nn.LSTM."""

import numpy as np
import pytest

from elman.nn import LSTM
from elman.nn.products import NUMPY
from tests.numeric import assert_close, numerical_gradient

SHAPES = [(2, 5), (1, 1), (3, 1), (1, 4)]  # (B, T)


def make_lstm(rng, D=3, H=4, dtype=np.float64, gemm=NUMPY):
    layer = LSTM(
        rng.normal(0, 0.5, (D, 4 * H)).astype(dtype),
        rng.normal(0, 0.5, (H, 4 * H)).astype(dtype),
        rng.normal(0, 0.1, 4 * H).astype(dtype),
    )
    layer.gemm = gemm
    return layer


def random_state(rng, B, H=4, dtype=np.float64):
    return rng.normal(size=(B, H)).astype(dtype), rng.normal(size=(B, H)).astype(dtype)


def naive_forward(lstm, xs, state0):
    """One step at a time, one gate at a time, straight from the equations in the docstring."""
    W_x, W_h, b = lstm.params["W_x"], lstm.params["W_h"], lstm.params["b"]
    H = W_h.shape[0]

    def gate(k, x, h):
        cols = slice(k * H, (k + 1) * H)
        return x @ W_x[:, cols] + h @ W_h[:, cols] + b[cols]

    def sigmoid(a):
        return 1 / (1 + np.exp(-a))

    (h, c), hs = state0, []
    for t in range(xs.shape[1]):
        x = xs[:, t]
        i = sigmoid(gate(0, x, h))
        f = sigmoid(gate(1, x, h))
        g = np.tanh(gate(2, x, h))
        o = sigmoid(gate(3, x, h))
        c = f * c + i * g
        h = o * np.tanh(c)
        hs.append(h)
    return np.stack(hs, axis=1), (h, c)


@pytest.mark.parametrize("B,T", SHAPES)
def test_forward_matches_naive_loop(B, T, gemm):
    rng = np.random.default_rng(0)
    lstm = make_lstm(rng, gemm=gemm)
    xs, state0 = rng.normal(size=(B, T, 3)), random_state(rng, B)
    hs_ref, (h_ref, c_ref) = naive_forward(lstm, xs, state0)
    assert_close(lstm.forward(xs, state0), hs_ref, rtol=1e-12)
    assert_close(lstm.state[0], h_ref, rtol=1e-12)
    assert_close(lstm.state[1], c_ref, rtol=1e-12)


def test_state_defaults_to_zero():
    rng = np.random.default_rng(1)
    lstm = make_lstm(rng)
    xs = rng.normal(size=(2, 3, 3))
    zeros = (np.zeros((2, 4)), np.zeros((2, 4)))
    assert_close(lstm.forward(xs), naive_forward(lstm, xs, zeros)[0], rtol=1e-12)


@pytest.mark.parametrize("B,T", SHAPES)
def test_backward_matches_finite_differences(B, T, gemm):
    """dxs, dh0, dc0 and every parameter gradient, with gradients arriving at hs and (h_T, c_T)."""
    rng = np.random.default_rng(2)
    lstm = make_lstm(rng, gemm=gemm)
    xs, (h0, c0) = rng.normal(size=(B, T, 3)), random_state(rng, B)
    G, G_h, G_c = rng.normal(size=(B, T, 4)), rng.normal(size=(B, 4)), rng.normal(size=(B, 4))

    def loss():
        hs = lstm.forward(xs, (h0, c0))
        h_T, c_T = lstm.state
        return float((hs * G).sum() + (h_T * G_h).sum() + (c_T * G_c).sum())

    loss()
    dxs, (dh0, dc0) = lstm.backward(G, dstate_last=(G_h, G_c))
    assert_close(dxs, numerical_gradient(loss, xs))
    assert_close(dh0, numerical_gradient(loss, h0))
    assert_close(dc0, numerical_gradient(loss, c0))
    for name in lstm.params:
        assert_close(lstm.grads[name], numerical_gradient(loss, lstm.params[name]))


def test_backward_accumulates():
    rng = np.random.default_rng(3)
    lstm = make_lstm(rng)
    xs, G = rng.normal(size=(2, 3, 3)), rng.normal(size=(2, 3, 4))
    lstm.forward(xs)
    lstm.backward(G)
    once = {k: g.copy() for k, g in lstm.grads.items()}
    lstm.reset_state()
    lstm.forward(xs)
    lstm.backward(G)
    for k in once:
        assert_close(lstm.grads[k], 2 * once[k])


def test_state_carries_across_chunks(gemm):
    """Two chunks read one after the other give the same states as one long forward."""
    rng = np.random.default_rng(4)
    lstm = make_lstm(rng, gemm=gemm)
    xs = rng.normal(size=(2, 7, 3))
    whole = lstm.forward(xs).copy()
    whole_state = lstm.state
    lstm.reset_state()
    first = lstm.forward(xs[:, :3]).copy()
    second = lstm.forward(xs[:, 3:]).copy()
    assert_close(np.concatenate([first, second], axis=1), whole, rtol=1e-12)
    assert_close(lstm.state[1], whole_state[1], rtol=1e-12)
    lstm.reset_state()
    assert_close(lstm.forward(xs[:, :3]), first, rtol=1e-12)


def test_carried_state_of_another_batch_size_is_refused():
    rng = np.random.default_rng(7)
    lstm = make_lstm(rng)
    lstm.forward(rng.normal(size=(2, 3, 3)))
    with pytest.raises(ValueError, match="reset_state"):
        lstm.forward(rng.normal(size=(4, 3, 3)))
    lstm.reset_state()
    assert lstm.forward(rng.normal(size=(4, 3, 3))).shape == (4, 3, 4)


def test_step_equals_forward_one_step_at_a_time(gemm):
    """step() feeds tokens one by one like generation does; the carried state is left alone."""
    rng = np.random.default_rng(8)
    lstm = make_lstm(rng, gemm=gemm)
    xs = rng.normal(size=(2, 4, 3))
    hs = lstm.forward(xs)
    carried = tuple(s.copy() for s in lstm.state)
    state = lstm.initial_state(2)
    for t in range(4):
        out, state = lstm.step(xs[:, t], state)
        assert_close(out, hs[:, t], rtol=1e-12)
    assert_close(state[1], carried[1], rtol=1e-12)
    for kept, now in zip(carried, lstm.state, strict=True):
        assert np.array_equal(kept, now)


def test_float32_stays_float32(gemm):
    rng = np.random.default_rng(5)
    lstm = make_lstm(rng, dtype=np.float32, gemm=gemm)
    hs = lstm.forward(rng.normal(size=(2, 3, 3)).astype(np.float32))
    dxs, (dh0, dc0) = lstm.backward(np.ones_like(hs))
    out, (h, c) = lstm.step(np.ones((2, 3), np.float32), lstm.initial_state(2))
    assert {a.dtype for a in (hs, dxs, dh0, dc0, out, h, c, *lstm.state)} == {np.dtype(np.float32)}
    assert all(g.dtype == np.float32 for g in lstm.grads.values())


def test_saturated_gates_raise_no_warnings():
    """Pre-activations of ±1000 saturate the gates without overflow (σ via tanh, not exp)."""
    rng = np.random.default_rng(9)
    lstm = make_lstm(rng, dtype=np.float32)
    xs = (1000 * rng.normal(size=(2, 3, 3))).astype(np.float32)
    with np.errstate(all="raise"):
        hs = lstm.forward(xs)
        lstm.backward(np.ones_like(hs))
    assert np.all(np.abs(hs) <= 1)


def torch_lstm(torch, lstm):
    """torch.nn.LSTM holding the same weights (bias_hh = 0, as the layer has one bias)."""
    W_x = lstm.params["W_x"]
    ref = torch.nn.LSTM(W_x.shape[0], W_x.shape[1] // 4, batch_first=True)
    with torch.no_grad():
        ref.weight_ih_l0.copy_(torch.from_numpy(W_x.T.copy()))
        ref.weight_hh_l0.copy_(torch.from_numpy(lstm.params["W_h"].T.copy()))
        ref.bias_ih_l0.copy_(torch.from_numpy(lstm.params["b"]))
        ref.bias_hh_l0.zero_()
    return ref


def assert_weight_grads_match_torch(lstm, ref, **tol):
    assert_close(lstm.grads["W_x"], ref.weight_ih_l0.grad.numpy().T, **tol)
    assert_close(lstm.grads["W_h"], ref.weight_hh_l0.grad.numpy().T, **tol)
    assert_close(lstm.grads["b"], ref.bias_ih_l0.grad.numpy(), **tol)
    assert_close(lstm.grads["b"], ref.bias_hh_l0.grad.numpy(), **tol)


TORCH_TOL = dict(rtol=1e-4, atol=1e-5)


def test_matches_torch_lstm(gemm):
    """Same weights in torch.nn.LSTM: hs, (h_T, c_T), dxs, (dh0, dc0) and weight gradients agree,
    with gradients arriving at hs and at the final state."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    lstm = make_lstm(rng, D=5, H=6, dtype=np.float32, gemm=gemm)
    xs = rng.normal(size=(3, 4, 5)).astype(np.float32)
    h0, c0 = random_state(rng, 3, H=6, dtype=np.float32)
    G = rng.normal(size=(3, 4, 6)).astype(np.float32)
    G_h, G_c = random_state(rng, 3, H=6, dtype=np.float32)

    ref = torch_lstm(torch, lstm)
    txs = torch.from_numpy(xs).requires_grad_()
    th0 = torch.from_numpy(h0)[None].requires_grad_()
    tc0 = torch.from_numpy(c0)[None].requires_grad_()
    ths, (thT, tcT) = ref(txs, (th0, tc0))
    t = torch.from_numpy
    ((ths * t(G)).sum() + (thT[0] * t(G_h)).sum() + (tcT[0] * t(G_c)).sum()).backward()

    hs = lstm.forward(xs, (h0, c0))
    dxs, (dh0, dc0) = lstm.backward(G, dstate_last=(G_h, G_c))
    assert_close(hs, ths.detach().numpy(), **TORCH_TOL)
    assert_close(lstm.state[0], thT[0].detach().numpy(), **TORCH_TOL)
    assert_close(lstm.state[1], tcT[0].detach().numpy(), **TORCH_TOL)
    assert_close(dxs, txs.grad.numpy(), **TORCH_TOL)
    assert_close(dh0, th0.grad[0].numpy(), **TORCH_TOL)
    assert_close(dc0, tc0.grad[0].numpy(), **TORCH_TOL)
    assert_weight_grads_match_torch(lstm, ref, **TORCH_TOL)


def test_matches_torch_lstm_over_two_chunks(gemm):
    """Truncated BPTT as the trainer does it: the state is carried into the second chunk
    (detached in torch) and the second chunk's outputs and gradients agree."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(10)
    lstm = make_lstm(rng, D=5, H=6, dtype=np.float32, gemm=gemm)
    xs = rng.normal(size=(2, 7, 5)).astype(np.float32)
    h0, c0 = random_state(rng, 2, H=6, dtype=np.float32)
    G = rng.normal(size=(2, 4, 6)).astype(np.float32)

    ref = torch_lstm(torch, lstm)
    with torch.no_grad():
        state0 = (torch.from_numpy(h0)[None], torch.from_numpy(c0)[None])
        _, (th, tc) = ref(torch.from_numpy(xs[:, :3]), state0)
    th, tc = th.detach().requires_grad_(), tc.detach().requires_grad_()
    txs = torch.from_numpy(xs[:, 3:]).requires_grad_()
    ths, _ = ref(txs, (th, tc))
    (ths * torch.from_numpy(G)).sum().backward()

    lstm.forward(xs[:, :3], (h0, c0))
    hs = lstm.forward(xs[:, 3:])  # from the carried state
    dxs, (dh0, dc0) = lstm.backward(G)
    assert_close(hs, ths.detach().numpy(), **TORCH_TOL)
    assert_close(dxs, txs.grad.numpy(), **TORCH_TOL)
    assert_close(dh0, th.grad[0].numpy(), **TORCH_TOL)
    assert_close(dc0, tc.grad[0].numpy(), **TORCH_TOL)
    assert_weight_grads_match_torch(lstm, ref, **TORCH_TOL)
