"""Next-token sampling, shared by every generator: temperature, top-k, top-p (nucleus)
and the draw itself, with an explicit ``numpy.random.Generator``."""

from __future__ import annotations

import math

import numpy as np

from elman.errors import ElmanError


def check_sampling(temperature: float, top_k: int, top_p: float) -> None:
    """Refuse settings no sampler can use, naming the flag."""
    if not 0 <= temperature < math.inf:  # NaN too
        raise ElmanError(f"--temperature must be zero or positive and finite, got {temperature}.")
    if top_k < 0:
        raise ElmanError(f"--top-k must be zero or positive, got {top_k}.")
    if not 0 < top_p <= 1:
        raise ElmanError(f"--top-p must be above 0 and at most 1, got {top_p}.")


def sample_next(
    logits: np.ndarray,
    temperature: float,
    top_k: int,
    rng: np.random.Generator,
    top_p: float = 1.0,
) -> int:
    """Pick a token id from logits (V,): greedy at temperature 0, else sample
    softmax(logits / temperature) restricted to the ``top_k`` largest (0: all) and to
    the nucleus of probability ``top_p`` (1: all; Holtzman et al. 2020): the fewest
    likeliest tokens whose probabilities add up to at least ``top_p``."""
    if temperature == 0:
        return int(np.argmax(logits))
    # Shift before dividing: the largest becomes 0 and the rest at worst -inf (an
    # intended overflow), never inf - inf = NaN, however small the temperature.
    with np.errstate(over="ignore"):
        z = (logits.astype(np.float64) - logits.max()) / temperature
    if 0 < top_k < len(z):
        kth = np.partition(z, -top_k)[-top_k]
        z[z < kth] = -np.inf
    weights = np.exp(z)  # the largest z is 0: nothing overflows
    if top_p < 1:
        weights = nucleus(weights, top_p)
    return draw_index(weights, rng.random())


def nucleus(weights: np.ndarray, top_p: float) -> np.ndarray:
    """``weights`` (V,) with every token outside the nucleus set to 0: the likeliest
    tokens, in order, up to and including the one at which their share of the total
    reaches ``top_p``. Tokens as likely as the last one kept are kept too, so the result
    does not depend on how a sort orders ties."""
    order = np.argsort(weights)[::-1]
    cumulative = np.cumsum(weights[order])
    last = int(np.searchsorted(cumulative, top_p * cumulative[-1]))
    threshold = weights[order[min(last, len(order) - 1)]]
    return np.where(weights >= threshold, weights, 0.0)


SAMPLING_BLOCK = 128  # weights per block in ``draw_index``


def draw_index(weights: np.ndarray, u: float) -> int:
    """Inverse-transform sampling: for weights w >= 0 (not all 0) and u in [0, 1), the
    index i with W_{i-1} <= u W < W_i, where W_i = w_0 + ... + w_i and W is the total;
    with u uniform, i is drawn with probability w_i / W, and a zero weight never is.

    In two levels, because one cumulative sum over a whole vocabulary is slow
    (``np.cumsum`` of 10,000 weights takes 33 µs, a third of a sampling step, and
    ``Generator.choice`` 61 µs): the cumulative sum of block totals finds the block,
    then the cumulative sum within it the index (10 µs).
    """
    starts = np.arange(0, len(weights), SAMPLING_BLOCK)
    totals = np.add.reduceat(weights, starts)
    cumulative = np.cumsum(totals)
    if not cumulative[-1] > 0:  # also NaN
        raise ValueError(f"cannot sample from weights that sum to {cumulative[-1]}")
    target = u * cumulative[-1]
    block = int(np.searchsorted(cumulative, target, side="right"))
    # Rounding may put the target at the very end, or just outside the block's share.
    # Clamping then to the last block, or index, with weight keeps zero weights out.
    block = int(np.flatnonzero(totals[: block + 1])[-1])
    start = int(starts[block])
    within = np.cumsum(weights[start : start + SAMPLING_BLOCK])
    offset = target - (cumulative[block - 1] if block else 0.0)
    i = min(int(np.searchsorted(within, max(offset, 0.0), "right")), len(within) - 1)
    return start + int(np.flatnonzero(weights[start : start + i + 1])[-1])


def sample_rows(
    logits: np.ndarray,
    temperature: float,
    top_k: int,
    rngs: list[np.random.Generator],
    top_p: float = 1.0,
) -> np.ndarray:
    """``sample_next`` for each row of logits (R, V), row r drawing from ``rngs[r]``: the
    same token ids as R calls would give (``tests/test_sampling.py`` checks it), in a few
    operations over all rows instead of a dozen per row, which at batch 32 cost more than
    the network's step."""
    if temperature == 0:
        return np.argmax(logits, axis=1)
    with np.errstate(over="ignore"):
        z = (logits.astype(np.float64) - logits.max(axis=1, keepdims=True)) / temperature
    if 0 < top_k < z.shape[1]:
        kth = np.partition(z, -top_k, axis=1)[:, -top_k, None]
        z[z < kth] = -np.inf
    weights = np.exp(z)
    if top_p < 1:
        weights = np.stack([nucleus(row, top_p) for row in weights])
    return draw_indices(weights, np.array([rng.random() for rng in rngs]))


def draw_indices(weights: np.ndarray, u: np.ndarray) -> np.ndarray:
    """``draw_index`` for each row of weights (R, V) with its u (R,), all rows at once."""
    R, V = weights.shape
    blocks = -(-V // SAMPLING_BLOCK)
    starts = np.arange(blocks) * SAMPLING_BLOCK
    totals = np.add.reduceat(weights, starts, axis=1)  # (R, blocks)
    cumulative = np.cumsum(totals, axis=1)
    if not np.all(cumulative[:, -1] > 0):  # also NaN
        raise ValueError(f"cannot sample from weights that sum to {cumulative[:, -1].min()}")
    target = u * cumulative[:, -1]
    block = _last_nonzero(totals, (cumulative <= target[:, None]).sum(axis=1))
    if blocks == 1:
        chunk, before = weights, 0.0
    else:  # each row's block; past the end of the last one, its last weight again,
        # which no index can reach: i below stops at the block's last index
        window = np.minimum(starts[block, None] + np.arange(SAMPLING_BLOCK), V - 1)
        chunk = np.take_along_axis(weights, window, axis=1)
        before = np.where(block > 0, cumulative[np.arange(R), block - 1], 0.0)
    within = np.cumsum(chunk, axis=1)
    last = np.minimum(V - starts[block], SAMPLING_BLOCK) - 1
    i = np.minimum((within <= np.maximum(target - before, 0.0)[:, None]).sum(axis=1), last)
    return starts[block] + _last_nonzero(chunk, i)


def _last_nonzero(a: np.ndarray, last: np.ndarray) -> np.ndarray:
    """For each row r, the largest index j <= last[r] with a[r, j] > 0."""
    allowed = (a > 0) & (np.arange(a.shape[1]) <= last[:, None])
    return a.shape[1] - 1 - np.argmax(allowed[:, ::-1], axis=1)
