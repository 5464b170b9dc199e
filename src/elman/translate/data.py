"""A translator's data: sentence pairs read from files, their two vocabularies, token ids
with the start and end of each target, and batches of pairs of similar length.

Three ways to give pairs, each said explicitly (no format is guessed):

    --source SRC --target TGT   two line-aligned UTF-8 files, line n of one translating
                                line n of the other
    --data FILE                 one pair per line, source<TAB>target (--format tsv)
    --data FILE --format qa     the book's question_answer lines (Deep Learning from
                                Scratch 2's addition.txt, date.txt): the source is what
                                comes before the first "_", the target what follows it

Each side is stripped of surrounding whitespace (the book pads its questions and
answers with spaces to a fixed width); a pair with an empty side is refused, naming
the file and line, as are files of different lengths and a TSV line without exactly one
tab.

The special tokens, in one place: every vocabulary's id 0 is <unk>, what any token it
lacks becomes (and is counted); a target ends with the vocabulary's line end (<eos>
for words, "\\n" for characters); the decoder starts from that same line end, as a
language model reading a line from a zero state starts from the previous line's end
(``elman.data.batching.LineBatches``), so <sos> is <eos>; padding is id 0 and masked.
A source has no end token: the encoder knows its length.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from elman.data.labeled import stratified_split
from elman.data.padded import bucket, mask_of, pad
from elman.data.text import read_text
from elman.data.tokenizers import Tokenizer, make_tokenizer
from elman.errors import ElmanError

# The longest source a translator reads, in tokens; a longer one is refused (split it).
# Attention reads sources of any length, but a beam of K hypotheses over a source of S
# tokens holds K x S attention weights per step and K x S x Hm of memory, and a
# sentence this long is far from anything a model here was trained on.
MAX_SOURCE_TOKENS = 1000
# The longest target a translator learns to write, in tokens (its <eos> besides), and so
# the most any translation may have (``decode.length_limits``). Training holds the
# logits of every target token at once, B x T x V: one character line of 200,000 tokens
# needs tens of GB (issue 26), and sentences run to tens of tokens.
MAX_TARGET_TOKENS = 1000


@dataclass(frozen=True)
class Pair:
    """One source and its translation, and where they came from (for messages)."""

    source: str
    target: str
    where: str  # "FILE line N", or "SRC and TGT line N"


def lines_of(path: str | os.PathLike[str]) -> list[str]:
    """The lines of a UTF-8 file ("\\n" ends a line; a final "\\n" starts no new one)."""
    lines = read_text(path).split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


def read_aligned(source: str, target: str) -> list[Pair]:
    """Pairs from two line-aligned files."""
    sources, targets = lines_of(source), lines_of(target)
    if len(sources) != len(targets):
        raise ElmanError(
            f"{source} has {len(sources):,} lines but {target} has {len(targets):,}, so they are "
            f"not line-aligned; give each line of {source} its translation on the same line "
            f"of {target}."
        )
    pairs = []
    for n, (s, t) in enumerate(zip(sources, targets, strict=True), 1):
        for text, name in ((s, source), (t, target)):
            if not text.strip():
                raise ElmanError(
                    f"{name} line {n} is empty; every line needs a sentence on both sides "
                    "(remove the line from both files)."
                )
        pairs.append(Pair(s.strip(), t.strip(), f"{source} and {target} line {n}"))
    return pairs


def read_data(path: str, format: str) -> list[Pair]:
    """Pairs from one file: source<TAB>target lines (``format`` "tsv") or the book's
    question_answer lines ("qa")."""
    pairs = []
    for n, line in enumerate(lines_of(path), 1):
        where = f"{path} line {n}"
        if format == "qa":
            source, underscore, target = line.partition("_")
            if not underscore:
                raise ElmanError(
                    f"{where} has no '_' between question and answer, as --format qa needs "
                    "(16+75  _91  ); give the book's question_answer lines or --format tsv."
                )
        else:
            parts = line.split("\t")
            if len(parts) != 2:
                found = "no tab" if len(parts) == 1 else f"{len(parts) - 1} tabs"
                raise ElmanError(
                    f"{where} has {found}, but a --data line holds source<TAB>target with "
                    "exactly one tab; fix the line (or give --format qa for the book's "
                    "question_answer lines)."
                )
            source, target = parts
        for text, side in ((source, "source"), (target, "target")):
            if not text.strip():
                raise ElmanError(
                    f"{where} has an empty {side}; every line needs a sentence on both sides."
                )
        pairs.append(Pair(source.strip(), target.strip(), where))
    return pairs


def fingerprint(pairs: Sequence[Pair]) -> str:
    """A short hash of the pairs, to recognise the same data later (--resume, --split)."""
    digest = hashlib.sha256()
    for pair in pairs:
        digest.update(f"{pair.source}\t{pair.target}\n".encode())
    return digest.hexdigest()[:16]


def split(
    pairs: Sequence[Pair], valid: float, test: float, seed: int
) -> tuple[list[Pair], list[Pair], list[Pair]]:
    """(train, valid, test): a seeded shuffle, the first round(n * test) pairs to test,
    the next round(n * valid) to validation, the rest to training, each in file order.
    The same pairs and seed always give the same split."""
    parts = stratified_split([""] * len(pairs), valid, test, seed)
    return tuple([pairs[i] for i in part] for part in parts)  # type: ignore[return-value]


def build_vocabularies(
    pairs: Sequence[Pair], level: str, **settings: Any
) -> tuple[Tokenizer, Tokenizer]:
    """One vocabulary per side, from the training pairs, each with a line end (the
    target's <eos>; see the module doc), each fitted with the level's ``settings``
    (``make_tokenizer``)."""
    sources = make_tokenizer(level, "".join(p.source + "\n" for p in pairs), **settings)
    targets = make_tokenizer(level, "".join(p.target + "\n" for p in pairs), **settings)
    return sources, targets


def source_ids(text: str, tokenizer: Tokenizer, reverse: bool, where: str = "") -> np.ndarray:
    """The ids the encoder reads for a source sentence: its tokens, backwards when
    ``reverse``; refused beyond ``MAX_SOURCE_TOKENS``."""
    ids = tokenizer.encode_unfinished(text.strip())
    if len(ids) > MAX_SOURCE_TOKENS:
        raise ElmanError(
            f"{where or 'a source'} has {len(ids):,} {tokenizer.unit}, more than the "
            f"{MAX_SOURCE_TOKENS:,} a translator reads; split it into shorter sentences."
        )
    return ids[::-1].copy() if reverse else ids


def target_ids(text: str, tokenizer: Tokenizer, where: str = "") -> np.ndarray:
    """A target sentence's ids and the line end that closes it (<eos>); refused beyond
    ``MAX_TARGET_TOKENS`` (the <eos> not counted)."""
    ids = tokenizer.encode_line(text.strip())
    if len(ids) - 1 > MAX_TARGET_TOKENS:
        raise ElmanError(
            f"{where or 'a target'} has a translation of {len(ids) - 1:,} {tokenizer.unit}, "
            f"more than the {MAX_TARGET_TOKENS:,} a translator writes; split it into shorter "
            "sentences (on both sides)."
        )
    return ids


@dataclass
class ParallelData:
    """Encoded pairs, and how many of their tokens the vocabularies lack."""

    sources: list[np.ndarray]  # token ids of each source (reversed when the model reads so)
    targets: list[np.ndarray]  # token ids of each target, <eos> last
    unknown_source: int = 0  # source tokens that became <unk>
    unknown_target: int = 0

    def __len__(self) -> int:
        return len(self.sources)


def encode(
    pairs: Sequence[Pair], source: Tokenizer, target: Tokenizer, reverse_source: bool
) -> ParallelData:
    """Token ids of each pair (``source_ids``, ``target_ids``, each refusing a sentence
    over its length limit), counting unknown tokens."""
    data = ParallelData([], [])
    for pair in pairs:
        data.sources.append(source_ids(pair.source, source, reverse_source, pair.where))
        data.targets.append(target_ids(pair.target, target, pair.where))
        data.unknown_source += sum(source.unknown_tokens(pair.source).values())
        data.unknown_target += sum(target.unknown_tokens(pair.target).values())
    return data


@dataclass(frozen=True)
class ParallelBatch:
    """Right-padded sources, and the decoder's inputs and targets (teacher forcing):

    targets  y_1 y_2 ... y_n <eos>  0 ...     what is predicted
    inputs   <eos> y_1 ... y_n      0 ...     what is read: the start, then y_<t
    mask     1   1  ...  1    1     0 ...
    """

    source: np.ndarray  # (B, S) source ids, 0 past each length
    source_lengths: np.ndarray  # (B,)
    inputs: np.ndarray  # (B, T) decoder inputs
    targets: np.ndarray  # (B, T) decoder targets
    mask: np.ndarray  # (B, T) bool, True at real target tokens
    index: np.ndarray  # (B,) position of each pair in its dataset


def make_batch(data: ParallelData, index: np.ndarray, start_id: int) -> ParallelBatch:
    """The pairs ``index`` of ``data`` as one batch; ``start_id`` is the target's <eos>."""
    source, source_lengths = pad([data.sources[i] for i in index])
    targets, target_lengths = pad([data.targets[i] for i in index])
    inputs = np.zeros_like(targets)
    inputs[:, 0] = start_id
    inputs[:, 1:] = targets[:, :-1]
    mask = mask_of(target_lengths, targets.shape[1])
    inputs[~mask] = 0  # the last real target (<eos>) is not read
    return ParallelBatch(source, source_lengths, inputs, targets, mask, np.asarray(index))


def make_batches(
    data: ParallelData, batch: int, start_id: int, rng: np.random.Generator | None = None
) -> list[ParallelBatch]:
    """Pairs in batches of similar source and target lengths (``padded.bucket``: sorted by
    source length, then target length; shuffled with ``rng``)."""
    source_lengths = np.array([len(s) for s in data.sources], np.int64)
    target_lengths = np.array([len(t) for t in data.targets], np.int64)
    key = source_lengths * (int(target_lengths.max(initial=0)) + 1) + target_lengths
    return [make_batch(data, index, start_id) for index in bucket(key, batch, rng)]
