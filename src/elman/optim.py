"""Gradient clipping and optimisers, working on the model's flat buffers.

Because every parameter is a view into one flat array, an update is one
vectorised operation over all of them. The buffers are NumPy arrays, or torch
tensors for the PyTorch backend: what differs between the two (a new buffer, a
square root, a norm) goes through ``arrays`` (``elman.nn.parameters.NumpyArrays``
by default), the rest is in-place arithmetic both write alike.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from elman.nn.parameters import NumpyArrays


def clip_factor(grads: Any, max_norm: float, arrays: Any = None) -> tuple[float, float]:
    """(norm, factor): the global L2 norm of ``grads`` and the factor, at most 1, that
    brings it down to ``max_norm`` (Pascanu et al. 2013); 0 disables clipping."""
    norm = (arrays or NumpyArrays(grads.dtype)).norm(grads)
    if max_norm > 0 and norm > max_norm:
        return norm, max_norm / (norm + 1e-6)
    return norm, 1.0


def clip_grad_norm(grads: Any, max_norm: float, arrays: Any = None) -> float:
    """Scale ``grads`` in place so that its global L2 norm is at most ``max_norm``;
    0 disables clipping. Returns the norm before clipping."""
    norm, factor = clip_factor(grads, max_norm, arrays)
    if factor != 1.0:
        grads *= factor
    return norm


class SGD:
    """Plain stochastic gradient descent: p <- p - lr * g."""

    def __init__(self, params: Any, lr: float, arrays: Any = None) -> None:
        self.params = params
        self.lr = lr
        self.arrays = arrays or NumpyArrays(params.dtype)

    def step(self, grads: np.ndarray, clip: float = 0.0) -> float:
        """p <- p - lr * c * g, where c clips the norm of g to ``clip`` (``clip_factor``);
        returns the norm before clipping.

        Uses up ``grads``: they hold -lr * c * g afterwards. Scaling them in place, by
        lr and the clipping factor together, saves a temporary the size of the model
        and two passes over memory."""
        norm, factor = clip_factor(grads, clip, self.arrays)
        grads *= -self.lr * factor
        self.params += grads
        return norm

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, float]]:
        """What resuming needs: arrays and numbers (SGD has only its rate)."""
        return {}, {"lr": self.lr}

    def load_state(self, arrays: dict[str, np.ndarray], numbers: dict[str, float]) -> None:
        self.lr = numbers["lr"]


class Adam:
    """Adam (Kingma & Ba 2015) with bias correction, on flat buffers."""

    def __init__(
        self,
        params: Any,
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        arrays: Any = None,
    ) -> None:
        self.params = params
        self.lr = lr
        self.beta1, self.beta2 = betas
        self.eps = eps
        self.arrays = arrays = arrays or NumpyArrays(params.dtype)
        self.m = arrays.zeros_like(params)  # running mean of gradients
        self.v = arrays.zeros_like(params)  # running mean of squared gradients
        self.t = 0
        self._scratch = arrays.zeros_like(params)

    def step(self, grads: np.ndarray, clip: float = 0.0) -> float:
        """One Adam update from ``grads``, first clipped in place to norm ``clip`` (0: not
        clipped); returns the norm before clipping.

        Uses up ``grads``, as SGD does: they hold the update afterwards. With them and one
        scratch buffer kept between steps, no array the size of the model is allocated:
        a fresh one every step costs a page fault per 4 KiB (a quarter of a translator's
        step was spent there), for the same arithmetic in the same order. In-place
        operators only, so that the same code updates tensors on the torch backend."""
        norm = clip_grad_norm(grads, clip, self.arrays)
        self.t += 1
        scratch = self._scratch
        scratch[...] = grads
        scratch *= 1 - self.beta1
        self.m *= self.beta1
        self.m += scratch
        scratch[...] = grads
        scratch *= 1 - self.beta2
        scratch *= grads
        self.v *= self.beta2
        self.v += scratch
        # p -= lr * m_hat / (sqrt(v_hat) + eps), with m_hat = m / c1 and
        # v_hat = v / c2^2 folded into the step size (eps scaled to match).
        c1, c2 = 1 - self.beta1**self.t, np.sqrt(1 - self.beta2**self.t)
        update = grads
        update[...] = self.m
        update *= self.lr * c2 / c1
        self.arrays.sqrt(self.v, out=scratch)
        scratch += self.eps * c2
        update /= scratch
        self.params -= update
        return norm

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, float]]:
        """What resuming needs: the moment estimates, the step count and the rate."""
        return {"m": self.m, "v": self.v}, {"lr": self.lr, "t": self.t}

    def load_state(self, arrays: dict[str, np.ndarray], numbers: dict[str, float]) -> None:
        self.m[...] = self.arrays.from_numpy(arrays["m"])
        self.v[...] = self.arrays.from_numpy(arrays["v"])
        self.lr, self.t = numbers["lr"], int(numbers["t"])


def make_optimizer(name: str, params: Any, lr: float, arrays: Any = None) -> SGD | Adam:
    """The optimiser called ``name`` ("sgd" or "adam") over the flat ``params``."""
    return {"sgd": SGD, "adam": Adam}[name](params, lr, arrays=arrays)
