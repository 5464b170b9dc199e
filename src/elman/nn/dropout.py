"""Dropout over (B, T, D) sequences, standard or locked across time."""

from __future__ import annotations

import numpy as np

DROPOUT_KINDS = ("standard", "locked")


class Dropout:
    """Inverted dropout (Srivastava et al. 2014): each unit is zeroed with probability
    p and the survivors are scaled by 1/(1-p), so the expected output equals the
    input and evaluation (``training = False``) is the identity.

    kind "standard": a fresh mask for every unit at every time step, on the
    non-recurrent connections (Zaremba et al. 2014).
    kind "locked": one mask per sequence and unit, the same at every time step of
    the chunk (variational dropout, Gal & Ghahramani 2016; AWD-LSTM's
    LockedDropout, Merity et al. 2018).
    """

    def __init__(self, p: float, kind: str, rng: np.random.Generator) -> None:
        if not 0 <= p < 1:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        if kind not in DROPOUT_KINDS:
            raise ValueError(f"dropout kind must be one of {DROPOUT_KINDS}, got {kind!r}")
        self.p, self.kind, self.rng = p, kind, rng
        self.training = True
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.mask: np.ndarray | None = None  # scaled keep-mask of the last forward, or None
        # Data-parallel training: (B, this process's rows) when the input is a shard of a
        # batch of B rows; masks are then drawn for all B and the shard's rows kept, so
        # they do not depend on how many processes share the batch.
        self.shard: tuple[int, slice] | None = None

    def sample_mask(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """A scaled keep-mask for an input of ``shape`` (B, T, D): (B, T, D) or (B, 1, D)."""
        if self.kind == "locked":
            shape = (shape[0], 1, *shape[2:])
        if self.shard is None:
            keep = self.rng.random(shape) >= self.p
        else:
            rows, mine = self.shard
            keep = (self.rng.random((rows, *shape[1:])) >= self.p)[mine]
        return keep.astype(dtype) / np.asarray(1 - self.p, dtype)

    def forward(self, x: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        """x (B, T, D) -> x * mask; ``mask`` fixes the mask (tests), else one is drawn."""
        if not self.training or self.p == 0:
            self.mask = None
            return x
        self.mask = self.sample_mask(x.shape, x.dtype) if mask is None else mask
        return x * self.mask

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout if self.mask is None else dout * self.mask
