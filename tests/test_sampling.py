"""Next-token sampling: greedy limits, top-k, top-p, and the draw following the softmax."""

import math

import numpy as np
import pytest

from elman.errors import ElmanError
from elman.sampling import (
    SAMPLING_BLOCK,
    check_sampling,
    draw_index,
    draw_indices,
    nucleus,
    sample_next,
    sample_rows,
)


def test_sample_next_handles_infinite_logit_ratios():
    rng = np.random.default_rng(0)
    logits = np.array([1.0, 3.0, -2.0, 2.9], np.float32)
    assert sample_next(logits, 1e-310, 0, rng) == 1
    assert sample_next(logits, 1e-310, 2, rng) == 1


def test_top_k_samples_only_among_the_k_likeliest():
    logits = np.array([0.0, 5.0, 1.0, 4.0, -2.0, 3.0])
    rng = np.random.default_rng(0)
    picks = {sample_next(logits, 2.0, 3, rng) for _ in range(300)}
    assert picks == {1, 3, 5}


def test_sampling_follows_the_softmax():
    """Frequencies of 20,000 draws at temperature 2 match softmax(logits / 2)."""
    logits = np.array([1.0, 0.0, -1.0, 2.0])
    rng = np.random.default_rng(0)
    draws = [sample_next(logits, 2.0, 0, rng) for _ in range(20_000)]
    p = np.exp(logits / 2) / np.exp(logits / 2).sum()
    assert np.bincount(draws, minlength=4) / 20_000 == pytest.approx(p, abs=0.015)


def test_draw_index_inverts_the_cumulative_weights_across_blocks():
    """Every index of a vocabulary spanning several blocks (and a partial last one) is
    drawn exactly for the u that fall in its share of the cumulative weights."""
    weights = np.random.default_rng(3).random(3 * SAMPLING_BLOCK + 17)
    weights[[0, 5, SAMPLING_BLOCK, len(weights) - 1]] = 0  # block edges and both ends
    edges = np.concatenate([[0.0], np.cumsum(weights)]) / weights.sum()
    for i in range(len(weights)):
        if weights[i] > 0:
            middle = (edges[i] + edges[i + 1]) / 2
            assert draw_index(weights, middle) == i
    assert draw_index(weights, 0.0) == 1  # the first index with weight
    assert draw_index(weights, np.nextafter(1.0, 0.0)) == len(weights) - 2  # the last one


def test_draw_index_never_draws_a_zero_weight_even_when_a_whole_block_is_zero():
    weights = np.zeros(2 * SAMPLING_BLOCK + 3)
    weights[[7, SAMPLING_BLOCK - 1]] = 1.0  # the second block and the tail are all zero
    rng = np.random.default_rng(0)
    assert {draw_index(weights, rng.random()) for _ in range(500)} == {7, SAMPLING_BLOCK - 1}
    assert draw_index(weights, np.nextafter(1.0, 0.0)) == SAMPLING_BLOCK - 1


def test_draw_index_refuses_weights_with_nothing_to_draw():
    for weights in (np.zeros(4), np.array([1.0, np.nan])):
        with pytest.raises(ValueError, match="cannot sample"):
            draw_index(weights, 0.5)


def test_sampling_a_large_vocabulary_follows_the_softmax():
    """4,000 logits over many blocks: the draws' frequencies, grouped into 8 bins of
    500 ids, match the softmax's mass in each bin."""
    logits = np.random.default_rng(1).normal(0, 2, 4_000).astype(np.float32)
    rng = np.random.default_rng(0)
    draws = np.array([sample_next(logits, 1.0, 0, rng) for _ in range(20_000)])
    p = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    expected = p.reshape(8, 500).sum(axis=1)
    assert np.bincount(draws // 500, minlength=8) / 20_000 == pytest.approx(expected, abs=0.015)


def test_top_p_keeps_the_fewest_likeliest_tokens_reaching_p():
    """Probabilities 0.5, 0.3, 0.15, 0.05: p = 0.7 keeps the first two (0.8 >= 0.7), p = 0.5
    the first alone, p = 0.96 all but the last; ties with the last kept are kept."""
    weights = np.array([0.15, 0.5, 0.05, 0.3])
    assert np.flatnonzero(nucleus(weights, 0.7)).tolist() == [1, 3]
    assert np.flatnonzero(nucleus(weights, 0.5)).tolist() == [1]
    assert np.flatnonzero(nucleus(weights, 0.9)).tolist() == [0, 1, 3]
    assert np.flatnonzero(nucleus(weights, 0.96)).tolist() == [0, 1, 2, 3]
    tied = np.array([0.4, 0.3, 0.3])
    assert np.flatnonzero(nucleus(tied, 0.5)).tolist() == [0, 1, 2]


def test_top_p_samples_the_nucleus_in_proportion():
    logits = np.log(np.array([0.5, 0.3, 0.15, 0.05]))
    rng = np.random.default_rng(5)
    draws = np.array([sample_next(logits, 1.0, 0, rng, top_p=0.7) for _ in range(20_000)])
    assert set(draws.tolist()) == {0, 1}
    assert np.mean(draws == 0) == pytest.approx(0.5 / 0.8, abs=0.02)


@pytest.mark.parametrize(
    ("temperature", "top_k", "top_p", "flag"),
    [(math.inf, 0, 1.0, "--temperature"), (1.0, -1, 1.0, "--top-k"), (1.0, 0, 0.0, "--top-p"),
     (1.0, 0, 1.5, "--top-p"), (1.0, 0, math.nan, "--top-p")],
)  # fmt: skip
def test_settings_no_sampler_can_use_are_refused(temperature, top_k, top_p, flag):
    with pytest.raises(ElmanError, match=flag):
        check_sampling(temperature, top_k, top_p)


@pytest.mark.parametrize("V", [1, 3, 65, 128, 129, 300, 2000])
@pytest.mark.parametrize(
    ("temperature", "top_k", "top_p"), [(1.0, 0, 1.0), (0.7, 5, 1.0), (1.3, 0, 0.9), (0.0, 0, 1.0)]
)
def test_sample_rows_draws_what_sample_next_draws_row_by_row(V, temperature, top_k, top_p):
    """Rows of every kind (spread, peaked, half of them -inf, a whole block of zero weight,
    zeros at the end), each with a generator of its own: the same ids as sample_next."""
    rng = np.random.default_rng(V)
    logits = rng.normal(size=(24, V)) * rng.uniform(0.1, 8, size=(24, 1))
    logits[:6, : V // 2] = -np.inf if V > 1 else logits[:6, : V // 2]
    if V > 2 * SAMPLING_BLOCK:
        logits[6:12, SAMPLING_BLOCK : 2 * SAMPLING_BLOCK] = -np.inf
        logits[12:18, -7:] = -np.inf
    logits = logits.astype(np.float32)
    seeds = range(100, 124)
    rows = sample_rows(logits.copy(), temperature, top_k, [np.random.default_rng(s) for s in seeds],
                       top_p)  # fmt: skip
    one_by_one = [
        sample_next(logits[r].copy(), temperature, top_k, np.random.default_rng(s), top_p)
        for r, s in enumerate(seeds)
    ]
    assert rows.tolist() == one_by_one


def test_draw_indices_refuses_a_row_with_nothing_to_draw():
    weights = np.ones((2, 5))
    weights[1] = 0
    with pytest.raises(ValueError, match="cannot sample from weights that sum to 0"):
        draw_indices(weights, np.array([0.5, 0.5]))
