"""Elementwise activations shared by the recurrent cells."""

from __future__ import annotations

import numpy as np


def sigmoid(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """σ(x) = 1 / (1 + e^-x), computed as (1 + tanh(x/2)) / 2, into ``out`` if given.

    The tanh form cannot overflow (1 / (1 + exp(-x)) warns for x < -89 in float32),
    keeps the input's dtype and needs no temporary. ``out`` may be ``x`` itself.
    """
    out = np.multiply(x, 0.5, out=out)
    np.tanh(out, out=out)
    out += 1
    out *= 0.5
    return out
