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
        return self.apply(ids)

    def apply(self, ids: np.ndarray) -> np.ndarray:
        """The rows of ``ids``, pure: nothing kept for backward."""
        return self.params["W"][ids]  # (B, T, D)

    def backward(self, dout: np.ndarray) -> None:
        # A token that occurs several times in the batch gets the sum of its rows.
        # Sorting the ids and summing each run with reduceat is several times faster
        # than np.add.at's scatter-add, and leaves one update per distinct token.
        D = self.params["W"].shape[1]
        ids = self.ids.ravel()
        if ids.size == 0:
            return
        order = np.argsort(ids, kind="stable")
        sorted_ids = ids[order]
        run_starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
        row_sums = np.add.reduceat(dout.reshape(-1, D)[order], run_starts, axis=0)
        self.grads["W"][sorted_ids[run_starts]] += row_sums
