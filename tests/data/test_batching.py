"""StreamBatches against the layout drawn in its docstring and against the corpus itself."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from elman.data import Batch, StreamBatches
from elman.data.batching import LineBatches, make_batches
from elman.errors import ElmanError


def stream_order(batches: StreamBatches) -> tuple[np.ndarray, np.ndarray]:
    """All real (input, target) pairs, stream 0 first, each stream in time order.

    The layout makes this the corpus order, so it should equal (ids[:-1], ids[1:]).
    """
    chunks = list(batches)
    inputs = np.concatenate([c.inputs for c in chunks], axis=1)  # (B, L)
    targets = np.concatenate([c.targets for c in chunks], axis=1)  # (B, L)
    masks = [np.ones(c.inputs.shape, bool) if c.mask is None else c.mask for c in chunks]
    mask = np.concatenate(masks, axis=1)
    return inputs[mask], targets[mask]  # boolean indexing reads row by row


def check_layout(ids: np.ndarray, batch: int, bptt: int) -> None:
    batches = StreamBatches(ids, batch, bptt)
    inputs, targets = stream_order(batches)
    # Every target exactly once, in order; inputs are the targets shifted by one.
    assert np.array_equal(targets, ids[1:])
    assert np.array_equal(inputs, ids[:-1])
    assert batches.tokens == len(ids) - 1
    assert batches.stream_length == -(-(len(ids) - 1) // batch)
    assert len(batches) == -(-batches.stream_length // bptt)
    for k, chunk in enumerate(batches):
        width = min(bptt, batches.stream_length - k * bptt)
        assert chunk.inputs.shape == chunk.targets.shape == (batch, width)
        assert chunk.inputs.dtype == chunk.targets.dtype == np.int64
        # Within a stream, each target is the next step's input (where that is real).
        real = np.ones(chunk.inputs.shape, bool) if chunk.mask is None else chunk.mask
        nxt = real[:, 1:]
        assert np.array_equal(chunk.inputs[:, 1:][nxt], chunk.targets[:, :-1][nxt])
        if chunk.mask is not None:
            assert chunk.mask.dtype == bool and chunk.mask.shape == (batch, width)
            assert not chunk.mask.all()  # None is used whenever nothing is padded
            assert not chunk.inputs[~chunk.mask].any() and not chunk.targets[~chunk.mask].any()


def test_docstring_example():
    """ids a..k, B=3, T=3: the matrices drawn in the module docstring."""
    ids = np.arange(1, 12)  # a=1 ... k=11
    batches = StreamBatches(ids, batch=3, bptt=3)
    assert (len(batches), batches.stream_length, batches.tokens) == (2, 4, 10)
    first, last = batches[0], batches[1]
    assert first.inputs.tolist() == [[1, 2, 3], [5, 6, 7], [9, 10, 0]]
    assert first.targets.tolist() == [[2, 3, 4], [6, 7, 8], [10, 11, 0]]
    assert first.mask.tolist() == [[True] * 3, [True] * 3, [True, True, False]]
    assert last.inputs.tolist() == [[4], [8], [0]]
    assert last.targets.tolist() == [[5], [9], [0]]
    assert last.mask.tolist() == [[True], [True], [False]]
    check_layout(ids, 3, 3)


def test_no_padding_means_no_mask():
    """N-1 = 12 pairs split evenly into B=4 streams of 3: no chunk carries a mask."""
    ids = np.arange(13)
    batches = StreamBatches(ids, batch=4, bptt=2)
    assert all(chunk.mask is None for chunk in batches)
    assert [chunk.inputs.shape for chunk in batches] == [(4, 2), (4, 1)]  # last chunk short
    check_layout(ids, 4, 2)


def test_mask_only_on_chunks_reaching_padding():
    """11 pairs in 3 streams of 4: only the last stream's last column is padding."""
    batches = StreamBatches(np.arange(12), batch=3, bptt=2)
    assert batches[0].mask is None
    assert batches[1].mask.tolist() == [[True, True], [True, True], [True, False]]


def test_batch_larger_than_pairs():
    """B=5 streams for 2 pairs: streams of length 1, the last three all padding."""
    ids = np.array([7, 8, 9])
    batches = StreamBatches(ids, batch=5, bptt=4)
    assert (len(batches), batches.stream_length) == (1, 1)
    chunk = batches[0]
    assert chunk.inputs[:, 0].tolist() == [7, 8, 0, 0, 0]
    assert chunk.targets[:, 0].tolist() == [8, 9, 0, 0, 0]
    assert chunk.mask[:, 0].tolist() == [True, True, False, False, False]
    check_layout(ids, 5, 4)


def test_single_stream_and_bptt_one():
    ids = np.arange(6)
    check_layout(ids, 1, 1)
    assert StreamBatches(ids, 1, 100)[0].inputs.tolist() == [[0, 1, 2, 3, 4]]


def test_indexing():
    batches = StreamBatches(np.arange(20), batch=2, bptt=3)
    assert isinstance(batches[0], Batch)
    assert np.array_equal(batches[-1].inputs, batches[len(batches) - 1].inputs)
    with pytest.raises(IndexError):
        batches[len(batches)]


@pytest.mark.parametrize(("batch", "bptt"), [(2, 3), (1, 50)])  # (1, 50): one contiguous chunk
def test_batches_are_copies(batch, bptt):
    """Changing a batch in place leaves the next read of it unchanged."""
    batches = StreamBatches(np.arange(20), batch, bptt)
    batches[0].inputs[:] = -1
    batches[0].targets[:] = -1
    assert batches[0].inputs.min() >= 0 and batches[0].targets.min() >= 0


@pytest.mark.parametrize("ids", [np.array([], dtype=np.int64), np.array([5])])
def test_needs_two_tokens(ids):
    with pytest.raises(ElmanError, match="needs at least two tokens"):
        StreamBatches(ids, 2, 2)


@pytest.mark.parametrize(("batch", "bptt", "name"), [(0, 4, "batch"), (4, 0, "bptt")])
def test_batch_and_bptt_positive(batch, bptt, name):
    with pytest.raises(ElmanError, match=f"{name} must be at least 1, got 0"):
        StreamBatches(np.arange(10), batch, bptt)


def test_rejects_non_integer_ids():
    with pytest.raises(ValueError, match="expected a 1-D integer array"):
        StreamBatches(np.zeros(10), 2, 2)


@given(
    st.lists(st.integers(1, 50), min_size=2, max_size=300),
    st.integers(1, 40),
    st.integers(1, 40),
)
def test_every_target_exactly_once(ids, batch, bptt):
    """Any corpus of at least two ids, any B and T: reading all chunks gives back ids[1:]."""
    check_layout(np.array(ids, dtype=np.int64), batch, bptt)


# LineBatches: one sequence per line, for a hidden state reset at every line end.

EOS = 1


def split_lines(ids: np.ndarray, eos_id: int) -> list[list[int]]:
    """The lines of ids, each up to and including its line end (the last may lack one)."""
    lines, line = [], []
    for i in ids.tolist():
        line.append(i)
        if i == eos_id:
            lines.append(line)
            line = []
    return lines + ([line] if line else [])


def read_groups(batches) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The chunks (in the order ``batches`` gives them) put back together along time into
    groups, a group starting at every chunk with ``reset``: (inputs, targets, mask) of
    shape (B, width) each."""
    groups: list[list] = []
    for chunk in batches:
        mask = np.ones(chunk.inputs.shape, bool) if chunk.mask is None else chunk.mask
        if chunk.reset:
            groups.append([])
        assert groups, "the first chunk must have reset set"
        groups[-1].append((chunk.inputs, chunk.targets, mask))
    return [
        tuple(np.concatenate(arrays, axis=1) for arrays in zip(*g, strict=True)) for g in groups
    ]


def check_lines(
    ids: np.ndarray, eos_id: int, batch: int, bptt: int, seed: int | None = None
) -> None:
    """Against the lines of the corpus: every token is predicted exactly once (the first
    one too), each line from its own row starting with the line start eos_id, inputs
    are the targets shifted by one, and only the first chunk of each group resets; read
    in order, or (with ``seed``) in ``shuffled`` order, where each group's chunks still
    come together and in order."""
    batches = LineBatches(ids, eos_id, batch, bptt)
    chunks = batches if seed is None else batches.shuffled(np.random.default_rng(seed))
    lines = split_lines(ids, eos_id)
    assert batches.tokens == len(ids)
    rows = []
    widths = []
    for inputs, targets, mask in read_groups(chunks):
        assert inputs.shape == targets.shape == mask.shape and len(inputs) <= batch
        widths.append(inputs.shape[1])
        for row in range(len(inputs)):
            n = int(mask[row].sum())
            assert mask[row, :n].all() and not mask[row, n:].any()  # padding only at the end
            line = targets[row, :n].tolist()
            assert inputs[row, :n].tolist() == [eos_id, *line[:-1]]
            assert not inputs[row, n:].any() and not targets[row, n:].any()
            rows.append(line)
    assert sum(len(r) for r in rows) == len(ids)
    assert sorted(rows) == sorted(lines)
    # Chunks: ceil(width / T) per group, each at most T wide, reset only on the first.
    assert len(chunks) == len(batches) == sum(-(-w // bptt) for w in widths)
    assert [c.reset for c in chunks].count(True) == len(widths) == -(-len(lines) // batch)
    assert all(c.inputs.shape[1] <= bptt for c in chunks)
    for c in chunks:
        assert c.inputs.dtype == c.targets.dtype == np.int64
        if c.mask is not None:
            assert not c.mask.all()


def test_line_batches_docstring_example():
    """Lines "a b <eos>" and "c <eos>" with B = 2, T = 2: the matrices in the docstring."""
    a, b, c = 2, 3, 4
    ids = np.array([a, b, EOS, c, EOS])
    batches = LineBatches(ids, EOS, batch=2, bptt=2)
    assert len(batches) == 2
    first, second = batches[0], batches[1]
    # Sorted by length: the shorter line "c <eos>" is the first row.
    assert first.inputs.tolist() == [[EOS, c], [EOS, a]]
    assert first.targets.tolist() == [[c, EOS], [a, b]]
    assert first.mask is None and first.reset
    assert second.inputs.tolist() == [[0], [b]]
    assert second.targets.tolist() == [[0], [EOS]]
    assert second.mask.tolist() == [[False], [True]]
    assert not second.reset
    check_lines(ids, EOS, 2, 2)


def test_line_batches_first_token_is_predicted_from_the_line_start():
    """One line: the first input is eos_id and the first target the corpus's first token,
    so N tokens give N predictions (StreamBatches gives N - 1)."""
    ids = np.array([5, 6, 7, EOS])
    (chunk,) = LineBatches(ids, EOS, batch=3, bptt=10)
    assert chunk.inputs.tolist() == [[EOS, 5, 6, 7]]
    assert chunk.targets.tolist() == [[5, 6, 7, EOS]]
    assert chunk.mask is None and chunk.reset


def test_line_batches_chunk_long_groups():
    """Lines of 7, 2 and 3 tokens, B = 2, T = 3: the two short lines are one group of
    one chunk; the 7-token line is a group read in chunks of 3, 3 and 1, reset on the
    first only."""
    ids = np.array([2, 3, 4, 5, 6, 7, EOS, 8, EOS, 9, 9, EOS])
    batches = LineBatches(ids, EOS, batch=2, bptt=3)
    assert [c.inputs.shape for c in batches] == [(2, 3), (1, 3), (1, 3), (1, 1)]
    assert [c.reset for c in batches] == [True, True, False, False]
    check_lines(ids, EOS, 2, 3)


@pytest.mark.parametrize(
    "ids",
    [
        np.array([2, 3, EOS, 4, 5, 6]),  # no line end after the last line
        np.array([2, 3, 4]),  # no line end at all: one line
        np.array([EOS, EOS, 2, EOS]),  # empty lines are just their line end
        np.array([7]),
    ],
)
def test_line_batches_without_trailing_line_end_and_empty_lines(ids):
    check_lines(ids, EOS, 2, 2)
    check_lines(ids, EOS, 1, 1)


def test_line_batches_need_a_token():
    with pytest.raises(ElmanError, match="at least one token"):
        LineBatches(np.array([], dtype=np.int64), EOS, 2, 2)


def test_make_batches_reset_needs_a_line_end():
    with pytest.raises(ElmanError, match="--state reset needs line ends"):
        make_batches(np.arange(10), "reset", None, 2, 2)


def test_make_batches_chooses_by_state():
    ids = np.array([2, 3, EOS, 4, EOS])
    assert isinstance(make_batches(ids, "carry", EOS, 2, 2), StreamBatches)
    assert isinstance(make_batches(ids, "carry", None, 2, 2), StreamBatches)
    assert isinstance(make_batches(ids, "reset", EOS, 2, 2), LineBatches)


def test_stream_batches_reset_only_on_the_first_chunk():
    """Each pass over the streams starts from zero: chunk 0 resets, later chunks carry."""
    batches = StreamBatches(np.arange(30), batch=2, bptt=4)
    assert len(batches) > 2
    assert [c.reset for c in batches] == [True] + [False] * (len(batches) - 1)
    assert batches[-len(batches)].reset


def cold_starts(batches: StreamBatches) -> np.ndarray:
    """(chunks, B) bool: which stream starts from a zero state before which chunk."""
    rows = []
    for chunk in batches:
        if chunk.reset:
            rows.append(np.ones(batches.batch, bool))
        elif chunk.restart is not None:
            assert chunk.restart.dtype == bool and chunk.restart.shape == (batches.batch,)
            assert chunk.restart.any()  # None is used whenever no stream restarts
            rows.append(chunk.restart)
        else:
            rows.append(np.zeros(batches.batch, bool))
    return np.array(rows)


def test_restart_docstring_example():
    """B=3, N=2: the restarts drawn in the module docstring."""
    batches = StreamBatches(np.arange(40), batch=3, bptt=2, restart_every=2)
    drawn = ["R . r . r", "R r . r .", "R . r . r"]
    marks = [
        [
            "R" if c.reset else "r" if c.restart is not None and c.restart[b] else "."
            for b in range(3)
        ]
        for c in list(batches)[:5]
    ]
    assert [" ".join(column) for column in zip(*marks, strict=True)] == drawn


@given(st.integers(2, 300), st.integers(1, 6), st.integers(1, 8), st.integers(0, 5))
def test_restarts_are_staggered_and_leave_the_chunks_as_they_are(n, batch, bptt, every):
    """Any corpus, B, T and N: the chunks are those without restarts; with N = 0 only
    the first chunk starts cold; otherwise every stream restarts within N chunks of
    the first, then every N chunks, and each chunk restarts between floor(B/N) and
    ceil(B/N) streams."""
    ids = np.arange(n)
    plain = StreamBatches(ids, batch, bptt)
    restarting = StreamBatches(ids, batch, bptt, restart_every=every)
    for p, r in zip(plain, restarting, strict=True):
        assert np.array_equal(p.inputs, r.inputs) and np.array_equal(p.targets, r.targets)
        assert (p.mask is None) == (r.mask is None)
        assert p.mask is None or np.array_equal(p.mask, r.mask)
        assert p.reset == r.reset and p.restart is None
    cold = cold_starts(restarting)
    assert cold[0].all()
    if every == 0:
        assert not cold[1:].any()
        return
    for b in range(batch):
        starts = [*np.flatnonzero(cold[:, b]), len(cold)]  # ends at the last chunk
        assert starts[0] == 0 and starts[1] <= every
        assert all(gap == every for gap in np.diff(starts[1:-1]))
        assert starts[-1] - starts[-2] <= every
    counts = cold[1:].sum(axis=1)
    assert ((batch // every <= counts) & (counts <= -(-batch // every))).all()


def test_restart_every_is_refused_below_zero_and_with_state_reset():
    with pytest.raises(ElmanError, match="restart_every must be 0 or more"):
        StreamBatches(np.arange(10), 2, 2, restart_every=-1)
    with pytest.raises(ElmanError, match="--restart-every .* leave --restart-every out"):
        make_batches(np.array([2, 3, EOS, 4, EOS]), "reset", EOS, 2, 2, restart_every=4)


@given(
    st.lists(st.integers(0, 4), min_size=1, max_size=200),
    st.integers(1, 6),
    st.integers(1, 8),
    st.none() | st.integers(0, 2**32 - 1),
)
def test_line_batches_predict_every_token_exactly_once(ids, batch, bptt, seed):
    """Any ids (EOS = 1 among 0..4), any B and T, in order or shuffled: the lines read back
    from the chunks are the corpus's lines, every token predicted once after its line's
    start."""
    check_lines(np.array(ids, dtype=np.int64), EOS, batch, bptt, seed)


def test_shuffled_line_batches_permute_whole_groups_with_the_generator():
    """Groups in ``rng.permutation`` order, each group's chunks together and in order; the
    same generator state gives the same order (what resuming relies on), another state
    another; with one chunk per group, the order is that permutation of the chunks."""
    ids = np.array([2, 3, 4, 5, 6, 7, EOS, 8, EOS, 9, 9, EOS, EOS, EOS, 5, 5, 5, EOS] * 3)
    batches = LineBatches(ids, EOS, batch=2, bptt=3)
    groups = [batches.group_of(k) for k in range(len(batches))]
    order = batches.shuffled(np.random.default_rng(7)).order.tolist()
    group_order = np.random.default_rng(7).permutation(max(groups) + 1)
    assert [groups[k] for k in order] == [g for g in group_order for _ in range(groups.count(g))]
    pairs = zip(order, order[1:], strict=False)
    assert all(b == a + 1 for a, b in pairs if groups[a] == groups[b])
    assert batches.shuffled(np.random.default_rng(7)).order.tolist() == order
    assert batches.shuffled(np.random.default_rng(8)).order.tolist() != order
    whole = LineBatches(ids, EOS, batch=2, bptt=100)  # one chunk per group
    expected = np.random.default_rng(3).permutation(len(whole)).tolist()
    assert whole.shuffled(np.random.default_rng(3)).order.tolist() == expected
