"""Mini-batches for truncated backpropagation through time (BPTT).

The corpus is one long sequence of N ids, which gives N-1 (input, target) pairs.
The pairs are cut into B contiguous streams of L = ceil((N-1)/B) pairs each, and
the streams are read side by side T steps at a time, so the hidden state of
stream b at the end of one chunk is the right start for the next chunk. With
ids = a b c d e f g h i j k (N = 11, 10 pairs), B = 3 (so L = 4) and T = 3:

                 inputs       targets      mask
    stream 0:    a b c | d    b c d | e    1 1 1 | 1
    stream 1:    e f g | h    f g h | i    1 1 1 | 1
    stream 2:    i j 0 | 0    j k 0 | 0    1 1 0 | 0
                 chunk 0 | chunk 1 (the last chunk may be shorter than T)

With ``restart_every`` N > 0 (training only), stream b also starts over from a
zero state before chunk k whenever (k + b) % N == 0, so about B/N streams restart
at every chunk and each restarts every N chunks. With B = 3 and N = 2 (R: every
stream starts from zero, r: this stream does, .: it carries its state on):

    chunk:       0 1 2 3 4
    stream 0:    R . r . r
    stream 1:    R r . r .
    stream 2:    R . r . r

A stream read from start to end never starts cold after its first step, while
every evaluation stream does (``elman.lm.evaluate.evaluate_ids``); the restarts let
the model learn to start cold at many points of the text (see docs/evaluation.md).

Unlike the PyTorch word_language_model ``batchify``, which trims the corpus to a
multiple of B, the tail is padded (id 0, mask False), so every target ``ids[1:]``
is predicted exactly once and nothing is dropped; only the last streams can hold
padding. Batch.mask is None when a chunk has no padding, so the common training
path pays nothing for it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from elman.errors import ElmanError


@dataclass(frozen=True)
class Batch:
    """One chunk of every stream."""

    inputs: np.ndarray  # (B, T) int64 token ids
    targets: np.ndarray  # (B, T) int64, the id that follows each input
    mask: np.ndarray | None  # (B, T) bool, False at padding; None when nothing is padding
    reset: bool = False  # start the hidden state over from zero before this chunk
    restart: np.ndarray | None = None  # (B,) bool, streams that start over from zero; None: none
    lines: np.ndarray | None = None  # (B,) which line of the text each row reads (LineBatches)


class StreamBatches:
    """The chunks of a corpus laid out as B streams read T steps at a time (see module doc)."""

    unscored = 1  # ids[0] is read, never predicted: every target is one of ids[1:]

    def __init__(self, ids: np.ndarray, batch: int, bptt: int, restart_every: int = 0) -> None:
        ids = np.asarray(ids)
        if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"expected a 1-D integer array of ids, got {ids.dtype} {ids.shape}")
        if len(ids) < 2:
            raise ElmanError(
                f"batching needs at least two tokens (one input and its target), got "
                f"{len(ids)}; give a longer text."
            )
        if batch < 1:
            raise ElmanError(f"batch must be at least 1, got {batch}; use e.g. 32.")
        if bptt < 1:
            raise ElmanError(f"bptt must be at least 1, got {bptt}; use e.g. 64.")
        if restart_every < 0:
            raise ElmanError(f"restart_every must be 0 or more, got {restart_every}.")
        self.batch = batch
        self.bptt = bptt
        self.restart_every = restart_every
        self.tokens = len(ids) - 1  # real (input, target) pairs
        self.stream_length = -(-self.tokens // batch)  # L = ceil((N-1) / B)
        # Stream b holds ids[b*L ... b*L+L]: L inputs plus the target of the last one,
        # which is also the first input of stream b+1; 0 past the corpus. The ids are
        # read where they are, a chunk at a time: a corpus in a memory map
        # (elman.data.prepared) is never read whole, nor copied.
        self._ids = ids
        self._starts = np.arange(batch, dtype=np.int64)[:, None] * self.stream_length  # (B, 1)

    def __len__(self) -> int:
        return -(-self.stream_length // self.bptt)

    def __getitem__(self, k: int) -> Batch:
        n = len(self)
        if not -n <= k < n:
            raise IndexError(f"chunk {k} out of range for {n} chunks")
        k %= n
        start = k * self.bptt
        stop = min(start + self.bptt, self.stream_length)
        # Inputs at stream steps start ... stop-1 and the targets one step on: one window
        # of T+1 ids a stream, gathered (a copy, so a caller changing a batch in place
        # cannot change the corpus).
        where = self._starts + np.arange(start, stop + 1)  # (B, T+1), positions in ids
        past = where > self.tokens  # past the corpus's last id
        window = np.asarray(self._ids[np.minimum(where, self.tokens)], dtype=np.int64)
        window[past] = 0
        inputs, targets = window[:, :-1].copy(), window[:, 1:].copy()  # (B, T) each
        # Pair b*L + t is padding when it is past the corpus; the last stream's last
        # column holds the chunk's largest pair index.
        L = self.stream_length
        mask = None
        if (self.batch - 1) * L + stop - 1 >= self.tokens:
            pairs = np.arange(self.batch)[:, None] * L + np.arange(start, stop)  # (B, T)
            mask = pairs < self.tokens
            inputs[~mask] = 0  # the first padded input would otherwise be the corpus's last id
        # Each pass over the streams starts from a zero state; later chunks carry it,
        # but for the streams that restart (see the module doc).
        restart = None
        if self.restart_every and k > 0:
            restart = (k + np.arange(self.batch)) % self.restart_every == 0  # (B,)
            if not restart.any():
                restart = None
        return Batch(inputs, targets, mask, reset=k == 0, restart=restart)

    def __iter__(self) -> Iterator[Batch]:
        for k in range(len(self)):
            yield self[k]


class LineBatches:
    """Every line its own sequence, for a hidden state reset at each line end.

    A line is its tokens up to and including its line end (``<eos>``, or "\n" for
    characters). From a zero state the model reads the previous line's end (the
    line start) and the line's tokens but the last, and predicts every token of
    the line and its end: the context ``score`` uses. With lines "a b <eos>" and
    "c <eos>" (B = 2, T = 2):

                 inputs          targets         mask
        line 1:  <eos> a | b     a b | <eos>     1 1 | 1
        line 2:  <eos> c | 0     c <eos> | 0     1 1 | 0

    Lines are sorted by length and grouped B at a time, so little is padding; a
    group longer than T is read T steps at a time with the state carried within
    the group, and the first chunk of each group has ``reset`` set. Every token
    of the corpus is predicted exactly once. Each batch's ``lines`` says which line
    (counted from 0 in the text) each row is, for whatever belongs to a line (a
    conditioned model's label).

    Iterated, the chunks come group after group, shortest lines first. Training reads
    them in ``shuffled`` order instead: in that order a text's many blank lines make its
    first hundreds of batches, and a model trained on them a few steps learns only that
    a line end follows a line end (issue 26: on Tiny Shakespeare, a training loss of
    0.001 after 20 steps, and a validation perplexity above a uniform guess's).
    """

    unscored = 0  # every token is predicted, the first after the line start

    def __init__(self, ids: np.ndarray, eos_id: int, batch: int, bptt: int) -> None:
        ids = np.asarray(ids)
        if len(ids) < 1:
            raise ElmanError("batching needs at least one token; give a longer text.")
        if batch < 1 or bptt < 1:
            raise ElmanError(f"batch and bptt must be at least 1, got {batch} and {bptt}.")
        self.batch, self.bptt = batch, bptt
        self.tokens = len(ids)
        self.eos_id = eos_id
        # Where each line starts and how long it is: a group's rows are made from the ids
        # when one of its chunks is asked for, so the lines of a corpus in a memory map
        # (elman.data.prepared) are never all held at once.
        bounds = np.unique(np.concatenate([[0], line_ends(ids, eos_id), [len(ids)]]))
        self._ids = ids
        self._starts, self._lengths = bounds[:-1], np.diff(bounds)  # (lines,) each
        # Group g: the lines order[g*B ... g*B+B-1], its last the longest.
        self._order = order = np.argsort(self._lengths, kind="stable")  # ties in order
        groups = -(-len(order) // batch)
        longest = order[np.minimum(np.arange(groups) * batch + batch - 1, len(order) - 1)]
        per_group = -(-self._lengths[longest] // bptt)  # chunks of each group
        self._first = np.concatenate([[0], np.cumsum(per_group)])  # each group's first chunk

    def __len__(self) -> int:
        return int(self._first[-1])

    def shuffled(self, rng: np.random.Generator) -> ChunkOrder:
        """The chunks with the groups in a random order, ``rng.permutation`` of them, each
        group's chunks together and in order (the state is carried from one to the next
        within a group). With one chunk per group (T at least the longest line) that is
        ``rng.permutation`` of the chunks."""
        order = rng.permutation(len(self._first) - 1)
        first, counts = self._first[:-1][order], np.diff(self._first)[order]  # (groups,)
        # Group order[i]'s chunks first ... first + count - 1, one group after another.
        shift = np.repeat(first - (np.cumsum(counts) - counts), counts)
        return ChunkOrder(self, shift + np.arange(len(self)))

    def __getitem__(self, k: int) -> Batch:
        if not 0 <= k < len(self):
            raise IndexError(f"chunk {k} out of range for {len(self)} chunks")
        group = self.group_of(k)
        start = (k - int(self._first[group])) * self.bptt  # the chunk's first column
        rows = self._order[group * self.batch : (group + 1) * self.batch]
        width = min(self.bptt, int(self._lengths[rows[-1]]) - start)
        inputs = np.zeros((len(rows), width), np.int64)
        targets = np.zeros((len(rows), width), np.int64)
        mask = np.zeros((len(rows), width), bool)
        for row, line in enumerate(rows):
            # Column j predicts the line's token j from its token j-1 (the line start,
            # eos_id, before token 0).
            first, length = int(self._starts[line]), int(self._lengths[line])
            stop = min(start + width, length)
            if stop <= start:
                continue
            targets[row, : stop - start] = self._ids[first + start : first + stop]
            mask[row, : stop - start] = True
            if start == 0:
                inputs[row, 0] = self.eos_id
                inputs[row, 1:stop] = self._ids[first : first + stop - 1]
            else:
                inputs[row, : stop - start] = self._ids[first + start - 1 : first + stop - 1]
        return Batch(
            inputs,
            targets,
            None if mask.all() else mask,
            reset=start == 0,
            lines=rows,
        )

    def group_of(self, k: int) -> int:
        """The group of lines chunk ``k`` reads (groups counted from the shortest lines)."""
        return int(np.searchsorted(self._first, k, side="right")) - 1

    def __iter__(self) -> Iterator[Batch]:
        for k in range(len(self)):
            yield self[k]


class ChunkOrder(Sequence[Batch]):
    """The chunks of ``batches`` in another order: ``order[k]`` is the k-th one's index."""

    def __init__(self, batches: LineBatches, order: np.ndarray) -> None:
        self.batches, self.order = batches, order

    def __len__(self) -> int:
        return len(self.order)

    def __getitem__(self, k: int) -> Batch:  # type: ignore[override]
        return self.batches[int(self.order[k])]


def line_ends(ids: np.ndarray, eos_id: int, block: int = 1 << 24) -> np.ndarray:
    """The positions just after each ``eos_id`` in ``ids``, found a block at a time (a
    corpus in a memory map is compared a block at a time too)."""
    found = [
        np.flatnonzero(ids[i : i + block] == eos_id) + (i + 1) for i in range(0, len(ids), block)
    ]
    return np.concatenate(found) if found else np.zeros(0, np.int64)


def make_batches(
    ids: np.ndarray,
    state: str,
    eos_id: int | None,
    batch: int,
    bptt: int,
    restart_every: int = 0,
) -> StreamBatches | LineBatches:
    """The batches for a hidden state that is carried across lines ("carry": B long
    streams, each restarting from zero every ``restart_every`` chunks if that is not 0)
    or reset at every line end ("reset": one sequence per line)."""
    if state == "carry":
        return StreamBatches(ids, batch, bptt, restart_every)
    if restart_every:
        raise ElmanError(
            "--restart-every restarts the long streams of --state carry, but with --state "
            "reset every line already starts from zero; leave --restart-every out."
        )
    if eos_id is None:
        raise ElmanError(
            "--state reset needs line ends, but the vocabulary has no newline; "
            "use --state carry or a text with several lines."
        )
    return LineBatches(ids, eos_id, batch, bptt)
