"""Embedding, affine and softmax cross-entropy against finite differences, PyTorch and by hand."""

import numpy as np
import pytest

from elman.nn import Affine, Embedding, SoftmaxCrossEntropy, log_softmax
from elman.nn.parameters import pack_parameters, weights_over_bias
from tests.numeric import assert_close, numerical_gradient


def test_embedding_backward_matches_finite_differences_with_repeated_ids():
    rng = np.random.default_rng(0)
    emb = Embedding(rng.normal(size=(5, 3)))
    ids = np.array([[1, 1, 4], [0, 1, 4]])  # repeats must accumulate
    G = rng.normal(size=(2, 3, 3))

    def loss():
        return float((emb.forward(ids) * G).sum())

    loss()
    emb.backward(G)
    assert_close(emb.grads["W"], numerical_gradient(loss, emb.params["W"]))


def test_embedding_backward_adds_to_the_gradient_and_matches_a_one_hot_product():
    rng = np.random.default_rng(3)
    V, D = 7, 4
    emb = Embedding(rng.normal(size=(V, D)))
    ids = rng.integers(0, V, size=(3, 9))
    G = rng.normal(size=(3, 9, D))
    one_hot = np.eye(V)[ids.ravel()]  # (N, V)
    expected = one_hot.T @ G.reshape(-1, D)
    emb.grads["W"][:] = 1.0
    emb.forward(ids)
    emb.backward(G)
    assert_close(emb.grads["W"], 1.0 + expected)


@pytest.mark.parametrize("packed", [False, True])
@pytest.mark.parametrize("shape", [(2, 3, 4), (1, 1, 4), (5, 4)])
def test_affine_backward_matches_finite_differences(shape, packed):
    """Packed into a flat buffer, the layer computes x W + b as [x, 1] [W; b]."""
    rng = np.random.default_rng(1)
    aff = Affine(rng.normal(size=(4, 6)), rng.normal(size=6))
    if packed:
        pack_parameters([("output", aff)], np.dtype(np.float64))
        assert weights_over_bias(aff.params["W"], aff.params["b"]) is not None
    x = rng.normal(size=shape)
    G = rng.normal(size=(*shape[:-1], 6))

    def loss():
        return float((aff.forward(x) * G).sum())

    loss()
    dx = aff.backward(G)
    assert_close(dx, numerical_gradient(loss, x))
    for name in aff.params:
        assert_close(aff.grads[name], numerical_gradient(loss, aff.params[name]))


def test_weights_over_bias_is_a_view_only_when_the_bias_follows_the_weights():
    rng = np.random.default_rng(8)
    aff = Affine(rng.normal(size=(3, 5)).astype(np.float32), np.zeros(5, np.float32))
    assert weights_over_bias(aff.params["W"], aff.params["b"]) is None  # separate arrays
    flat, *_ = pack_parameters([("output", aff)], np.dtype(np.float32))
    W, b = aff.params["W"], aff.params["b"]
    W_b = weights_over_bias(W, b)
    assert W_b.shape == (4, 5) and np.shares_memory(W_b, flat)
    b += 1  # a view: later updates show through
    assert np.array_equal(W_b[:3], W) and np.array_equal(W_b[3], b)
    assert weights_over_bias(b[None].T.T, b) is None  # same buffer, not directly before b
    assert weights_over_bias(flat[:15].reshape(5, 3).T, b) is None  # a transposed (tied) W


def test_cross_entropy_by_hand():
    """Uniform logits give log V; a confident correct logit gives almost 0."""
    ce = SoftmaxCrossEntropy()
    assert ce.forward(np.zeros((2, 3, 7)), np.zeros((2, 3), int)) == pytest.approx(np.log(7))
    logits = np.zeros((1, 1, 3))
    logits[0, 0, 2] = 50.0
    assert ce.forward(logits, np.array([[2]])) == pytest.approx(0.0, abs=1e-12)


def test_cross_entropy_is_stable_for_huge_logits():
    ce = SoftmaxCrossEntropy()
    logits = np.array([[[1000.0, 0.0, -1000.0]]], dtype=np.float32)
    loss = ce.forward(logits, np.array([[1]]))
    assert loss == pytest.approx(1000.0, rel=1e-6)
    assert np.all(np.isfinite(ce.backward()))


@pytest.mark.parametrize("scale", [0.1, 5.0, 40.0, 300.0])
def test_cross_entropy_agrees_with_the_shifted_formula_in_float32(scale):
    """Rows whose exp stays in range skip the max shift, the others are shifted;
    either way loss and gradient match float64's shifted log-softmax. 300 makes some
    rows overflow exp and others underflow it, besides mixed in-range ones."""
    rng = np.random.default_rng(6)
    logits = (scale * rng.normal(size=(4, 8, 50))).astype(np.float32)
    logits[0, 0] = -200.0 - np.arange(50, dtype=np.float32)  # exp underflows to 0
    targets = rng.integers(0, 50, size=(4, 8))
    logp = log_softmax(logits.astype(np.float64)).reshape(-1, 50)
    rows = np.arange(32)
    ce = SoftmaxCrossEntropy()
    loss = ce.forward(logits, targets)
    assert loss == pytest.approx(-logp[rows, targets.ravel()].mean(), rel=1e-6, abs=1e-6)
    expected = np.exp(logp)
    expected[rows, targets.ravel()] -= 1
    assert_close(ce.backward().reshape(-1, 50), expected / 32, rtol=1e-4, atol=1e-7)


def test_cross_entropy_of_nan_logits_is_nan():
    logits = np.zeros((1, 2, 4), np.float32)
    logits[0, 1, 3] = np.nan
    assert np.isnan(SoftmaxCrossEntropy().forward(logits, np.array([[0, 1]])))


@pytest.mark.parametrize("reuse", [False, True])
def test_cross_entropy_gradient_outlives_the_next_forward_unless_the_buffer_is_reused(reuse):
    rng = np.random.default_rng(7)
    logits = rng.normal(size=(2, 3, 5)).astype(np.float32)
    targets = rng.integers(0, 5, size=(2, 3))
    ce = SoftmaxCrossEntropy(reuse_buffer=reuse)
    ce.forward(logits, targets)
    held = ce.backward()
    kept, doubled = held.copy(), 2 * logits
    ce.forward(doubled, targets)
    assert np.shares_memory(ce.backward(), held) == reuse
    assert np.array_equal(held, kept) != reuse  # reused: overwritten by the second forward
    assert np.array_equal(doubled, 2 * logits)  # forward leaves the logits alone


@pytest.mark.parametrize("masked", [False, True])
def test_cross_entropy_backward_matches_finite_differences(masked):
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(2, 4, 5))
    targets = rng.integers(0, 5, size=(2, 4))
    mask = np.array([[1, 1, 1, 1], [1, 1, 0, 0]], bool) if masked else None
    ce = SoftmaxCrossEntropy()

    def loss():
        return ce.forward(logits.copy(), targets, mask)

    loss()
    assert_close(ce.backward(), numerical_gradient(loss, logits))


def test_padding_changes_neither_loss_nor_gradient():
    """A masked position may hold anything: the loss and gradients of real positions stay."""
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(1, 3, 5))
    targets = np.array([[1, 2, 3]])
    ce = SoftmaxCrossEntropy()
    short = ce.forward(logits[:, :2].copy(), targets[:, :2])
    d_short = ce.backward()
    padded = logits.copy()
    padded[0, 2] = 1e3
    full = ce.forward(padded, targets, np.array([[True, True, False]]))
    d_full = ce.backward()
    assert full == pytest.approx(short)
    assert_close(d_full[:, :2], d_short)
    assert np.all(d_full[:, 2] == 0)
    assert ce.count == 2


def test_cross_entropy_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    logits = rng.normal(size=(3, 4, 9)).astype(np.float32)
    targets = rng.integers(0, 9, size=(3, 4))
    t_logits = torch.from_numpy(logits.copy()).requires_grad_()
    t_loss = torch.nn.functional.cross_entropy(
        t_logits.reshape(-1, 9), torch.from_numpy(targets).reshape(-1)
    )
    t_loss.backward()
    ce = SoftmaxCrossEntropy()
    assert ce.forward(logits, targets) == pytest.approx(t_loss.item(), rel=1e-5)
    assert_close(ce.backward(), t_logits.grad.numpy(), rtol=1e-4, atol=1e-6)


def test_log_softmax_matches_definition():
    z = np.random.default_rng(5).normal(size=(3, 6))
    assert_close(log_softmax(z), z - np.log(np.exp(z).sum(axis=1, keepdims=True)), rtol=1e-12)
