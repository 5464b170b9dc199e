"""Many-to-one: one vector per sequence from a padded, length-masked sequence of outputs."""

from __future__ import annotations

import numpy as np

POOLINGS = ("final", "mean", "max")


def check_lengths(lengths: np.ndarray, batch: int, steps: int) -> np.ndarray:
    """``lengths`` as an int64 (B,) array, each in [1, T]: sequences are right-padded."""
    lengths = np.asarray(lengths, dtype=np.int64)
    if lengths.shape != (batch,):
        raise ValueError(f"expected lengths of shape {(batch,)}, got {lengths.shape}")
    if batch and (lengths.min() < 1 or lengths.max() > steps):
        raise ValueError(
            f"expected lengths in [1, {steps}], got {lengths.min()} ... {lengths.max()}"
        )
    return lengths


class Pooling:
    """hs (B, T, H) and lengths (B,) -> (B, H), reading only the valid steps t < lengths[b]
    of each right-padded sequence, so padding changes neither the output nor any gradient.

        final   h at the last valid step, t = lengths[b] - 1. With ``split`` (a
                bidirectional layer's H), units [:split] are read there and units
                [split:] at t = 0, where the reverse direction ended: each direction's
                final state, as PyTorch's h_n of a packed bidirectional sequence.
        mean    the mean of h over the valid steps.
        max     the maximum of each unit over the valid steps (Collobert et al. 2011);
                the gradient goes to the step that held it.
    """

    def __init__(self, mode: str, split: int | None = None) -> None:
        if mode not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {mode!r}")
        self.mode = mode
        self.split = split
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.cache: tuple | None = None

    def forward(self, hs: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        pooled, self.cache = self._pool(hs, lengths)
        return pooled

    def apply(self, hs: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """As ``forward``, pure: nothing kept for backward."""
        return self._pool(hs, lengths)[0]

    def _pool(self, hs: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, tuple]:
        """(pooled (B, H), what backward needs)."""
        B, T, H = hs.shape
        lengths = check_lengths(lengths, B, T)
        rows = np.arange(B)
        if self.mode == "final":
            split = H if self.split is None else self.split
            pooled = np.empty((B, H), hs.dtype)
            pooled[:, :split] = hs[rows, lengths - 1, :split]
            pooled[:, split:] = hs[:, 0, split:]
            return pooled, (hs.shape, lengths, split)
        mask = np.arange(T) < lengths[:, None]  # (B, T)
        if self.mode == "mean":
            pooled = np.einsum("bth,bt->bh", hs, mask.astype(hs.dtype))
            pooled /= lengths[:, None].astype(hs.dtype)
            return pooled, (hs.shape, lengths, mask)
        masked = np.where(mask[:, :, None], hs, -np.inf)
        argmax = masked.argmax(axis=1)  # (B, H): the step holding each maximum
        pooled = np.take_along_axis(hs, argmax[:, None, :], axis=1)[:, 0]
        return pooled, (hs.shape, lengths, argmax)

    def backward(self, dpooled: np.ndarray) -> np.ndarray:
        """dpooled (B, H) -> dhs (B, T, H), zero at every padded step."""
        shape, lengths, extra = self.cache
        B, T, H = shape
        dhs = np.zeros(shape, dpooled.dtype)
        if self.mode == "final":
            split = extra
            dhs[np.arange(B), lengths - 1, :split] += dpooled[:, :split]
            dhs[:, 0, split:] += dpooled[:, split:]
        elif self.mode == "mean":
            mask = extra
            dhs += dpooled[:, None, :] / lengths[:, None, None].astype(dpooled.dtype)
            dhs *= mask[:, :, None]
        else:
            np.put_along_axis(dhs, extra[:, None, :], dpooled[:, None, :], axis=1)
        return dhs
