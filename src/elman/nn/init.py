"""Weight initialisers, each citing where it comes from.

All take an explicit ``numpy.random.Generator``: no global random state.
"""

from __future__ import annotations

import numpy as np


def uniform(rng: np.random.Generator, shape: tuple[int, ...], scale: float) -> np.ndarray:
    """U(-scale, scale). With scale 0.1 this is Zaremba et al. (2014) and PyTorch's
    word_language_model for the embedding and the output layer."""
    return rng.uniform(-scale, scale, size=shape)


def glorot_uniform(rng: np.random.Generator, fan_in: int, fan_out: int) -> np.ndarray:
    """Glorot & Bengio (2010): U(-a, a) with a = sqrt(6 / (fan_in + fan_out)), which
    keeps the variance of activations and gradients roughly equal across a layer."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=(fan_in, fan_out))


def orthogonal(rng: np.random.Generator, size: int) -> np.ndarray:
    """A random orthogonal matrix (Saxe et al. 2014). For the recurrent matrix W_h:
    all its singular values are 1, so at the start repeated multiplication by it
    neither shrinks nor blows up the hidden state and its gradient."""
    q, r = np.linalg.qr(rng.standard_normal((size, size)))
    # Fix the signs so the distribution is uniform over orthogonal matrices (Mezzadri 2007).
    return q * np.sign(np.diag(r))
