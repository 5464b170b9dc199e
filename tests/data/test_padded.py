"""Padded, length-bucketed batches: every sequence exactly once, right-padded with its
length, batches of similar lengths; seeded shuffling, fixed order without a seed."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from elman.data.padded import bucket, mask_of, pad


def test_pad_right_pads_with_lengths():
    padded, lengths = pad([np.array([1, 2]), np.array([3]), np.array([4, 5, 6])])
    assert padded.tolist() == [[1, 2, 0], [3, 0, 0], [4, 5, 6]]
    assert lengths.tolist() == [2, 1, 3]
    assert mask_of(lengths, 3).tolist() == [[1, 1, 0], [1, 0, 0], [1, 1, 1]]


def test_bucket_groups_by_length_in_a_fixed_order_without_rng():
    """The module doc's example."""
    batches = bucket([2, 5, 3, 4, 1], 2)
    assert [b.tolist() for b in batches] == [[4, 0], [2, 3], [1]]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(1, 30), min_size=1, max_size=60), st.integers(1, 8), st.integers(0, 9))
def test_bucket_covers_every_sequence_once(lengths, batch, seed):
    """With or without shuffling: a partition of the indices into batches of at most B,
    and (sorted by length) each batch's lengths lie between its neighbours'."""
    for rng in (None, np.random.default_rng(seed)):
        batches = bucket(lengths, batch, rng)
        flat = np.concatenate(batches)
        assert sorted(flat.tolist()) == list(range(len(lengths)))
        assert all(1 <= len(b) <= batch for b in batches)
        spans = sorted((min(lengths[i] for i in b), max(lengths[i] for i in b)) for b in batches)
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False))


def test_bucket_shuffles_with_a_seed_and_repeats_with_the_same_seed():
    lengths = np.arange(40) % 7 + 1
    a = bucket(lengths, 4, np.random.default_rng(1))
    b = bucket(lengths, 4, np.random.default_rng(1))
    c = bucket(lengths, 4, np.random.default_rng(2))
    assert [x.tolist() for x in a] == [x.tolist() for x in b]
    assert [x.tolist() for x in a] != [x.tolist() for x in c]
