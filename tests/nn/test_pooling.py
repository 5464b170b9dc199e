"""Masked pooling: against a naive per-sequence computation over the valid steps only,
central finite differences in float64, padding changing nothing, and PyTorch."""

import numpy as np
import pytest

from elman.nn.pooling import POOLINGS, Pooling
from tests.numeric import assert_close, numerical_gradient

B, T, H = 3, 5, 4
LENGTHS = np.array([5, 2, 1])


def naive(mode, hs, lengths, split=None):
    """Each sequence alone, cut to its length."""
    out = []
    for b, n in enumerate(lengths):
        h = hs[b, :n]
        if mode == "final":
            s = H if split is None else split
            out.append(np.concatenate([h[-1, :s], h[0, s:]]))
        elif mode == "mean":
            out.append(h.mean(axis=0))
        else:
            out.append(h.max(axis=0))
    return np.stack(out)


@pytest.mark.parametrize("split", [None, 2])
@pytest.mark.parametrize("mode", POOLINGS)
def test_forward_reads_only_the_valid_steps(mode, split):
    """Against the naive computation; then garbage in the padding changes nothing."""
    hs = np.random.default_rng(0).normal(size=(B, T, H))
    pool = Pooling(mode, split=split)
    expected = naive(mode, hs, LENGTHS, split)
    assert_close(pool.forward(hs, LENGTHS), expected, rtol=1e-12)
    padded = hs.copy()
    for b, n in enumerate(LENGTHS):
        padded[b, n:] = 1e3
    assert_close(pool.forward(padded, LENGTHS), expected, rtol=1e-12)


@pytest.mark.parametrize("split", [None, 2])
@pytest.mark.parametrize("mode", POOLINGS)
def test_backward_matches_finite_differences_and_is_zero_at_padding(mode, split):
    rng = np.random.default_rng(1)
    hs, G = rng.normal(size=(B, T, H)), rng.normal(size=(B, H))
    pool = Pooling(mode, split=split)

    def loss():
        return float((pool.forward(hs, LENGTHS) * G).sum())

    loss()
    dhs = pool.backward(G)
    assert_close(dhs, numerical_gradient(loss, hs))
    for b, n in enumerate(LENGTHS):
        assert not dhs[b, n:].any()


def test_refuses_lengths_outside_the_batch():
    pool = Pooling("mean")
    with pytest.raises(ValueError, match="lengths in"):
        pool.forward(np.zeros((2, 3, 1)), np.array([0, 3]))
    with pytest.raises(ValueError, match="lengths in"):
        pool.forward(np.zeros((2, 3, 1)), np.array([1, 4]))
    with pytest.raises(ValueError, match="pooling must be"):
        Pooling("sum")


@pytest.mark.parametrize("mode", ["mean", "max"])
def test_matches_torch_masked_pooling(mode):
    """torch's masked mean (sum / length) and masked max (-inf at padding) and their
    autograd gradients."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    hs, G = rng.normal(size=(B, T, H)), rng.normal(size=(B, H))
    t_hs = torch.from_numpy(hs.copy()).requires_grad_()
    mask = torch.arange(T)[None, :] < torch.from_numpy(LENGTHS)[:, None]
    if mode == "mean":
        t_out = (t_hs * mask[..., None]).sum(1) / torch.from_numpy(LENGTHS)[:, None]
    else:
        t_out = t_hs.masked_fill(~mask[..., None], float("-inf")).amax(1)
    (t_out * torch.from_numpy(G)).sum().backward()
    pool = Pooling(mode)
    assert_close(pool.forward(hs, LENGTHS), t_out.detach().numpy(), rtol=1e-12)
    assert_close(pool.backward(G), t_hs.grad.numpy(), rtol=1e-12)
