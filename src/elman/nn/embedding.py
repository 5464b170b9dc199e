"""Embedding lookup over time."""

from __future__ import annotations

import numpy as np


class Embedding:
    """Token ids (B, T) -> vectors (B, T, D): row ``ids[b, t]`` of ``W`` (V, D)."""

    def __init__(self, W: np.ndarray) -> None:
        self.params = {"W": W}
        self.grads = {"W": np.zeros_like(W)}
        self.ids: np.ndarray | None = None

    def forward(self, ids: np.ndarray) -> np.ndarray:
        self.ids = ids
        return self.params["W"][ids]  # (B, T, D)

    def backward(self, dout: np.ndarray) -> None:
        # Rows repeat when a token occurs twice in the batch, so accumulate with add.at
        # (a plain fancy-index += would keep only one of the repeats).
        D = self.params["W"].shape[1]
        np.add.at(self.grads["W"], self.ids.ravel(), dout.reshape(-1, D))
