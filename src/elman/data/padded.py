"""Whole sequences of different lengths in one batch: right padding, grouped by length.

Classifiers and taggers read each sequence whole, from a zero state. A batch holds
B of them side by side, each followed by padding (id 0) up to the longest, with
their lengths; layers and losses read only the steps t < length. Sequences of
similar length are batched together ("bucketing"), so little of a batch is
padding. With lengths 2, 5, 3, 4, 1 and B = 2, after sorting by length:

    batch 0:  e .        lengths 1 2     (sequence 4, then 0)
              a a
    batch 1:  c c c .    lengths 3 4     (sequences 2, 3)
              d d d d
    batch 2:  b b b b b  lengths 5       (sequence 1)

In training, sequences of equal length are shuffled before they are grouped and
the batches come in a random order each epoch; for evaluation the order is fixed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def pad(sequences: Sequence[np.ndarray], fill: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad 1-D integer sequences into (B, T), T the longest; -> (padded, lengths (B,))."""
    lengths = np.array([len(s) for s in sequences], dtype=np.int64)
    padded = np.full((len(sequences), int(lengths.max(initial=0))), fill, dtype=np.int64)
    for row, sequence in enumerate(sequences):
        padded[row, : len(sequence)] = sequence
    return padded, lengths


def mask_of(lengths: np.ndarray, steps: int) -> np.ndarray:
    """(B, T) bool, True at the real steps t < lengths[b]."""
    return np.arange(steps) < np.asarray(lengths)[:, None]


def bucket(
    lengths: Sequence[int] | np.ndarray, batch: int, rng: np.random.Generator | None = None
) -> list[np.ndarray]:
    """Indices of the sequences in each batch, sequences of similar length together
    (see the module doc). With ``rng`` (training), ties are broken at random and the
    batches are shuffled; without, the order is fixed and sorted by length."""
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")
    lengths = np.asarray(lengths, dtype=np.int64)
    order = np.arange(len(lengths)) if rng is None else rng.permutation(len(lengths))
    order = order[np.argsort(lengths[order], kind="stable")]
    batches = [order[i : i + batch] for i in range(0, len(order), batch)]
    if rng is not None:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches
