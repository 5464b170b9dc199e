"""Central finite differences, the reference every hand-written backward is checked against."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def numerical_gradient(f: Callable[[], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """d f() / d x by central differences, perturbing ``x`` in place one element at a time."""
    grad = np.zeros_like(x, dtype=np.float64)
    flat = x.reshape(-1)  # a view: perturbing it perturbs x
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        plus = f()
        flat[i] = old - eps
        minus = f()
        flat[i] = old
        grad.reshape(-1)[i] = (plus - minus) / (2 * eps)
    return grad


def assert_close(
    actual: np.ndarray, expected: np.ndarray, rtol: float = 1e-5, atol: float = 1e-7
) -> None:
    """Relative comparison with a message saying how far apart the arrays are."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"expected shape {expected.shape}, got {actual.shape}"
    err = np.max(np.abs(actual - expected) / (atol + np.abs(expected)), initial=0.0)
    assert np.allclose(actual, expected, rtol=rtol, atol=atol), f"max relative error {err:.3g}"
