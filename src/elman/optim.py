"""Gradient clipping and optimisers, working on the model's flat buffers.

Because every parameter is a view into one flat array, an update is one
vectorised operation over all of them.
"""

from __future__ import annotations

import numpy as np


def clip_grad_norm(grads: np.ndarray, max_norm: float) -> float:
    """Scale ``grads`` in place so that its global L2 norm is at most ``max_norm``
    (Pascanu et al. 2013); 0 disables clipping. Returns the norm before clipping."""
    norm = float(np.sqrt(np.dot(grads, grads)))
    if max_norm > 0 and norm > max_norm:
        grads *= max_norm / (norm + 1e-6)
    return norm


class SGD:
    """Plain stochastic gradient descent: p <- p - lr * g."""

    def __init__(self, params: np.ndarray, lr: float) -> None:
        self.params = params
        self.lr = lr

    def step(self, grads: np.ndarray) -> None:
        """p <- p - lr * g, using up ``grads``: they hold -lr * g afterwards. Scaling
        them in place saves a temporary the size of the model and a pass over memory."""
        grads *= -self.lr
        self.params += grads

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, float]]:
        """What resuming needs: arrays and numbers (SGD has only its rate)."""
        return {}, {"lr": self.lr}

    def load_state(self, arrays: dict[str, np.ndarray], numbers: dict[str, float]) -> None:
        self.lr = numbers["lr"]


class Adam:
    """Adam (Kingma & Ba 2015) with bias correction, on flat buffers."""

    def __init__(
        self,
        params: np.ndarray,
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        self.params = params
        self.lr = lr
        self.beta1, self.beta2 = betas
        self.eps = eps
        self.m = np.zeros_like(params)  # running mean of gradients
        self.v = np.zeros_like(params)  # running mean of squared gradients
        self.t = 0

    def step(self, grads: np.ndarray) -> None:
        self.t += 1
        self.m *= self.beta1
        self.m += (1 - self.beta1) * grads
        self.v *= self.beta2
        self.v += (1 - self.beta2) * grads * grads
        # p -= lr * m_hat / (sqrt(v_hat) + eps), with m_hat = m / c1 and
        # v_hat = v / c2^2 folded into the step size (eps scaled to match), so the
        # update costs no extra buffer.
        c1, c2 = 1 - self.beta1**self.t, np.sqrt(1 - self.beta2**self.t)
        self.params -= (self.lr * c2 / c1) * self.m / (np.sqrt(self.v) + self.eps * c2)

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, float]]:
        """What resuming needs: the moment estimates, the step count and the rate."""
        return {"m": self.m, "v": self.v}, {"lr": self.lr, "t": self.t}

    def load_state(self, arrays: dict[str, np.ndarray], numbers: dict[str, float]) -> None:
        self.m[...], self.v[...] = arrays["m"], arrays["v"]
        self.lr, self.t = numbers["lr"], int(numbers["t"])


def make_optimizer(name: str, params: np.ndarray, lr: float) -> SGD | Adam:
    """The optimiser called ``name`` ("sgd" or "adam") over the flat ``params``."""
    return {"sgd": SGD, "adam": Adam}[name](params, lr)
