"""What a language model trains on: a text, and for a conditioned model one condition per
line of it (a label's id, or a vector)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from elman.data.labeled import Example, label_ids, label_index, read_labeled
from elman.data.prepared import (
    PartFile,
    PreparedCorpus,
    Source,
    is_prepared,
    open_corpus,
    part_named,
)
from elman.data.text import read_text
from elman.data.tokenizers import TextCounts, Tokenizer, ids_dtype
from elman.data.vectors import read_vectors
from elman.errors import ElmanError


@dataclass(frozen=True)
class Part:
    """A text, and the condition of each of its lines (None: an unconditioned model); or a
    text not held in memory: a file too large for it, read a piece at a time (``source``,
    prepared into the cache once the model's vocabulary is known), or a part of a prepared
    corpus (``prepared``, read from a memory map, in ``corpus``)."""

    text: str | None
    conditions: np.ndarray | None = None  # (lines,) label ids, or (lines, C) vectors
    source: Source | None = None
    prepared: PartFile | None = None
    corpus: PreparedCorpus | None = None

    def encoded(self, tokenizer: Tokenizer) -> tuple[np.ndarray, TextCounts]:
        """Its ids in ``tokenizer``'s vocabulary and what they write (``TextCounts``): a
        text's encoded (in the smallest type that holds them), a prepared part's from its
        memory map, refused when they are of another vocabulary."""
        if self.prepared is not None:
            self.corpus.check_vocabulary(tokenizer, self.prepared.path)
            return self.prepared.ids(), self.prepared.counts
        if self.text is None:
            raise ValueError("a part read a piece at a time is prepared before it is encoded")
        return tokenizer.encode_counted(self.text, ids_dtype(len(tokenizer)))


def line_count(text: str) -> int:
    """Lines of ``text`` as the tokenizers read them: ended by "\\n", a last line without
    one counting too."""
    return text.count("\n") + (0 if text.endswith("\n") else 1)


def labelled_part(examples: Sequence[Example], labels: Sequence[str]) -> Part:
    """The examples' texts, one per line (a line break inside a text becomes a space), and
    the id of each one's label in ``labels``; a label outside them is refused."""
    ids = label_ids(examples, labels)
    text = "".join(" ".join(example.text.split("\n")) + "\n" for example in examples)
    return Part(text, ids)


def vector_part(text: str, vectors: str, size: int | None = None) -> Part:
    """``text`` with the vectors of the ``.npy`` file ``vectors``, one row per line (and of
    ``size`` values each, when the model already has a size)."""
    array = read_vectors(vectors, rows=line_count(text))
    check_vector_size(array, vectors, size)
    return Part(text, array)


def check_vector_size(array: np.ndarray, name: str, size: int | None) -> None:
    if size is not None and array.shape[1] != size:
        raise ElmanError(
            f"{name} holds vectors of {array.shape[1]} values but the model reads vectors of "
            f"{size}; give vectors made as the training ones were."
        )


def label_id(labels: Sequence[str], label: str) -> np.ndarray:
    """The id, as a one-row condition, of ``label`` among a model's ``labels`` (read in
    NFC, ``labeled.label_index``)."""
    k = label_index(labels, label)
    if k is None:
        raise ElmanError(
            f"the label {label!r} was never seen in training; the model knows: {', '.join(labels)}."
        )
    return np.array([k], np.int64)


def one_vector(path: str, size: int) -> np.ndarray:
    """The single vector (1, C) in the ``.npy`` file ``path``, of the model's ``size``."""
    array = read_vectors(path)
    if len(array) != 1:
        raise ElmanError(
            f"{path} holds {len(array)} vectors; give one (a 1-D array, or one row) to "
            "condition on."
        )
    check_vector_size(array, path, size)
    return array


def evaluation_part(ckpt: Any, data: str, vectors: str | None = None) -> Part:
    """The text in ``data`` to evaluate ``ckpt``'s model on, each line with its condition
    for a conditioned model: a labelled file (label<TAB>text) for a label model, with
    ``vectors`` (a .npy file) for a vector model; or a prepared corpus's part
    (``corpus/PART.bin``, or of ``corpus/`` its test part, else valid, else train)."""
    condition = ckpt.condition.condition
    if condition != "vector" and vectors is not None:
        raise ElmanError("--vectors is for a vector-conditioned model; leave it out.")
    if is_prepared(data):
        if condition != "none":
            raise ElmanError(
                f"--data {data} is a prepared corpus, which holds text alone, and this model "
                f"reads a {condition} with each line; give the text file."
            )
        corpus = open_corpus(data)
        name = part_named(data) or next(r for r in ("test", "valid", "train") if r in corpus.parts)
        return Part(None, prepared=corpus.part(name, data), corpus=corpus)
    if condition == "label":
        return labelled_part(read_labeled(data), ckpt.labels)
    if condition == "vector":
        if vectors is None:
            raise ElmanError("this model reads a vector per line; give --vectors FILE.npy.")
        return vector_part(read_text(data), vectors, ckpt.condition.condition_size)
    return Part(read_text(data))


def condition_of(ckpt: Any, label: str | None, vector: str | None) -> np.ndarray | None:
    """The condition a label or a vector file gives ``ckpt``'s model, for generating and
    scoring (None: the model has none), refusing the one it does not read."""
    if label is not None and vector is not None:
        raise ElmanError("give --label or --vector, not both.")
    condition = ckpt.condition.condition
    if label is not None and condition == "label":
        return label_id(ckpt.labels, label)
    if vector is not None and condition == "vector":
        return one_vector(vector, ckpt.condition.condition_size)
    if label is not None or vector is not None:
        given = "--label" if label is not None else "--vector"
        if condition == "none":
            raise ElmanError(
                f"this language model was trained without a condition; leave out {given}."
            )
        raise ElmanError(
            f"this model reads a {condition} condition; give --{condition}, not {given}."
        )
    if condition == "label":
        raise ElmanError(
            f"this model generates given a label; give --label (one of {', '.join(ckpt.labels)})."
        )
    if condition == "vector":
        raise ElmanError("this model generates given a vector; give --vector FILE.npy.")
    return None
