"""The tanh bridge y = tanh(x W + b) against finite differences in float64 and PyTorch."""

import numpy as np
import pytest

from elman.nn import Bridge
from elman.nn.init import bridge as init_bridge
from elman.nn.parameters import pack_parameters, weights_over_bias
from tests.numeric import assert_close, numerical_gradient

DIN, DOUT = 5, 3


def make_bridge(rng, dtype=np.float64):
    return Bridge(
        rng.normal(0, 0.5, (DIN, DOUT)).astype(dtype), rng.normal(0, 0.3, DOUT).astype(dtype)
    )


@pytest.mark.parametrize("packed", [False, True])
@pytest.mark.parametrize("shape", [(2, DIN), (1, DIN), (2, 3, DIN), (1, 1, DIN)])
def test_backward_matches_finite_differences(shape, packed):
    """A condition (B, Din) or a sequence (B, T, Din); packed into a flat buffer the affine
    part is one product [x, 1] [W; b], and the bridge sees the packed arrays."""
    rng = np.random.default_rng(0)
    bridge = make_bridge(rng)
    if packed:
        flat, *_ = pack_parameters([("bridge", bridge)], np.dtype(np.float64))
        assert np.shares_memory(bridge.params["W"], flat)
        assert weights_over_bias(bridge.params["W"], bridge.params["b"]) is not None
    x = rng.normal(size=shape)
    G = rng.normal(size=(*shape[:-1], DOUT))

    def loss():
        return float((bridge.forward(x) * G).sum())

    loss()
    dx = bridge.backward(G)
    assert_close(dx, numerical_gradient(loss, x))
    for name in bridge.params:
        assert_close(bridge.grads[name], numerical_gradient(loss, bridge.params[name]))


def test_forward_is_tanh_of_the_affine_map():
    rng = np.random.default_rng(1)
    bridge = make_bridge(rng)
    x = rng.normal(size=(4, 2, DIN))
    expected = np.tanh(x @ bridge.params["W"] + bridge.params["b"])
    y = bridge.forward(x)
    assert y.shape == (4, 2, DOUT)
    assert_close(y, expected, rtol=1e-12)


def test_backward_accumulates():
    rng = np.random.default_rng(2)
    bridge = make_bridge(rng)
    x, G = rng.normal(size=(3, DIN)), rng.normal(size=(3, DOUT))
    bridge.forward(x)
    bridge.backward(G)
    once = {k: g.copy() for k, g in bridge.grads.items()}
    bridge.forward(x)
    bridge.backward(G)
    for k in once:
        assert_close(bridge.grads[k], 2 * once[k])


def test_float32_stays_float32():
    rng = np.random.default_rng(3)
    bridge = make_bridge(rng, dtype=np.float32)
    y = bridge.forward(rng.normal(size=(2, 3, DIN)).astype(np.float32))
    dx = bridge.backward(np.ones_like(y))
    assert {a.dtype for a in (y, dx, *bridge.grads.values())} == {np.dtype(np.float32)}


def test_errors_name_the_expected_shape():
    with pytest.raises(
        ValueError, match=r"expected W \(Din, Dout\) and b \(Dout,\), got \(5, 3\) and \(5,\)"
    ):
        Bridge(np.zeros((5, 3)), np.zeros(5))
    bridge = Bridge(np.zeros((5, 3)), np.zeros(3))
    with pytest.raises(ValueError, match=r"expected inputs of shape \(\.\.\., 5\), got \(2, 4\)"):
        bridge.forward(np.zeros((2, 4)))


def test_init_is_glorot_uniform_with_a_zero_bias():
    bridge = init_bridge(np.random.default_rng(4), 40, 60)
    W, b = bridge.params["W"], bridge.params["b"]
    limit = np.sqrt(6 / 100)
    assert W.shape == (40, 60) and b.shape == (60,)
    assert np.all(np.abs(W) <= limit) and W.std() > limit / 2 and not b.any()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_matches_torch(dtype):
    """Luong's attentional state tanh([c; h] W_c + b_c) over (B, T, Hm + H), in torch ops:
    y, dx and the gradients of W and b."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    bridge = make_bridge(rng, dtype=dtype)
    x = rng.normal(size=(3, 4, DIN)).astype(dtype)
    G = rng.normal(size=(3, 4, DOUT)).astype(dtype)
    t_x = torch.from_numpy(x.copy()).requires_grad_()
    t_W = torch.from_numpy(bridge.params["W"].copy()).requires_grad_()
    t_b = torch.from_numpy(bridge.params["b"].copy()).requires_grad_()
    t_y = torch.tanh(t_x @ t_W + t_b)
    (t_y * torch.from_numpy(G)).sum().backward()

    tol = dict(rtol=1e-10, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-4, atol=1e-5)
    assert_close(bridge.forward(x), t_y.detach().numpy(), **tol)
    assert_close(bridge.backward(G), t_x.grad.numpy(), **tol)
    assert_close(bridge.grads["W"], t_W.grad.numpy(), **tol)
    assert_close(bridge.grads["b"], t_b.grad.numpy(), **tol)
