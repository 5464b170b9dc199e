"""Dropout, standard and locked, against its definition: where the masks change, their
scale (a statistical check of the mean), the identity cases and finite differences."""

import numpy as np
import pytest

from elman.nn import Dropout
from tests.numeric import assert_close, numerical_gradient


def make_dropout(p=0.5, kind="standard", seed=0):
    return Dropout(p, kind, np.random.default_rng(seed))


def test_standard_draws_a_fresh_mask_at_every_step():
    """Mask (B, T, D): the zero pattern changes from step to step within one call."""
    dropout = make_dropout(kind="standard")
    x = np.ones((3, 6, 20))
    y = dropout.forward(x)
    assert dropout.mask.shape == (3, 6, 20)
    zeros = y == 0
    assert zeros.any()
    for t in range(1, 6):
        assert not np.array_equal(zeros[:, t], zeros[:, 0])


def test_locked_reuses_one_mask_at_every_step():
    """Mask (B, 1, D): x * mask has the same zero pattern at every t, different across
    the sequences of the batch and across calls."""
    dropout = make_dropout(kind="locked")
    x = np.random.default_rng(1).uniform(1, 2, size=(4, 7, 20))  # no zeros of its own
    y = dropout.forward(x)
    assert dropout.mask.shape == (4, 1, 20)
    zeros = y == 0
    assert zeros.any() and not zeros.all()
    for t in range(7):
        assert np.array_equal(zeros[:, t], zeros[:, 0])
    for b in range(1, 4):
        assert not np.array_equal(zeros[b, 0], zeros[0, 0])
    first = dropout.mask.copy()
    dropout.forward(x)
    assert not np.array_equal(dropout.mask, first)


@pytest.mark.parametrize("kind", ["standard", "locked"])
@pytest.mark.parametrize("p", [0.2, 0.5])
def test_survivors_are_scaled_so_the_mean_equals_the_input(kind, p):
    """Each kept unit is x / (1 - p) and a fraction p is dropped; averaged over 4000 draws
    (fixed seed) x * mask is x within 5 standard errors of the mean."""
    dropout = make_dropout(p, kind, seed=2)
    x = np.random.default_rng(3).normal(size=(2, 3, 5))
    draws = 4000
    total = np.zeros_like(x)
    dropped = 0
    for _ in range(draws):
        y = dropout.forward(x)
        kept = y != 0
        assert_close(y[kept], x[kept] / (1 - p), rtol=1e-12)
        dropped += (~kept).sum()
        total += y
    # Per element, x * mask has mean x and standard deviation |x| sqrt(p / (1 - p)).
    stderr = np.abs(x) * np.sqrt(p / (1 - p) / draws)
    assert np.all(np.abs(total / draws - x) < 5 * stderr)
    assert dropped / (draws * x.size) == pytest.approx(p, abs=0.01)


@pytest.mark.parametrize("kind", ["standard", "locked"])
def test_mask_dtype_follows_the_input(kind):
    dropout = make_dropout(0.3, kind)
    y = dropout.forward(np.ones((2, 3, 4), np.float32))
    assert y.dtype == np.float32 and dropout.mask.dtype == np.float32


@pytest.mark.parametrize("kind", ["standard", "locked"])
def test_p_zero_and_evaluation_are_the_identity(kind):
    """p = 0, or training = False with p = 0.5: the output is the input itself and
    backward passes the gradient through unchanged."""
    x = np.random.default_rng(4).normal(size=(2, 3, 4))
    dout = np.random.default_rng(5).normal(size=(2, 3, 4))
    evaluating = make_dropout(0.5, kind)
    evaluating.training = False
    for dropout in (make_dropout(0.0, kind), evaluating):
        assert np.array_equal(dropout.forward(x), x)
        assert dropout.mask is None
        assert np.array_equal(dropout.backward(dout), dout)


@pytest.mark.parametrize("kind", ["standard", "locked"])
def test_backward_matches_finite_differences_with_a_fixed_mask(kind):
    """dx of sum(G * dropout(x)) against central differences, the mask drawn once and passed
    to every forward; backward multiplies by that same mask."""
    dropout = make_dropout(0.4, kind, seed=6)
    rng = np.random.default_rng(7)
    x, G = rng.normal(size=(2, 5, 3)), rng.normal(size=(2, 5, 3))
    mask = dropout.sample_mask(x.shape, x.dtype)
    assert np.any(mask == 0)

    def loss():
        return float((dropout.forward(x, mask) * G).sum())

    loss()
    dx = dropout.backward(G)
    assert_close(dx, numerical_gradient(loss, x))
    assert_close(dx, G * mask, rtol=1e-15)


def test_backward_uses_the_mask_of_the_last_forward():
    """Without a given mask, backward multiplies by the mask the forward drew."""
    dropout = make_dropout(0.5, "standard", seed=8)
    x = np.ones((2, 4, 6))
    y = dropout.forward(x)
    assert np.array_equal(dropout.backward(np.ones_like(x)), y)


@pytest.mark.parametrize(("p", "kind"), [(1.0, "standard"), (-0.1, "standard"), (0.5, "zone")])
def test_rejects_bad_settings(p, kind):
    with pytest.raises(ValueError, match="dropout"):
        make_dropout(p, kind)
