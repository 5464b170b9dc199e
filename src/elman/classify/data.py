"""A classifier's data: texts as token ids, their labels, and batches of similar length.

Texts of different lengths share a batch right-padded (``elman.data.padded``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from elman.data.labeled import Example, label_ids
from elman.data.padded import bucket, pad
from elman.data.tokenizers import Tokenizer


@dataclass(frozen=True)
class LabeledBatch:
    """Right-padded texts and their labels."""

    ids: np.ndarray  # (B, T) token ids, 0 past each length
    lengths: np.ndarray  # (B,) real tokens of each text
    labels: np.ndarray  # (B,) class ids
    index: np.ndarray  # (B,) position of each text in its dataset
    weights: np.ndarray | None = None  # (B,) loss weight of each text


@dataclass
class LabeledData:
    """Encoded texts and their class ids."""

    sequences: list[np.ndarray]  # token ids of each text
    labels: np.ndarray  # (N,) class ids


def normalize(text: str) -> str:
    """Lower case, every digit 0, runs of punctuation apart from words:

    >>> normalize("WIN £1000! Call 0800-123")
    'win £ 0000 ! call 0000 - 000'
    """
    text = _DIGIT.sub("0", text.lower())
    return " ".join(_WORD_OR_PUNCTUATION.findall(text))


_DIGIT = re.compile(r"\d")
_WORD_OR_PUNCTUATION = re.compile(r"\w+|[^\w\s]+")


def token_ids(text: str, tokenizer: Tokenizer, normalized: bool, max_length: int) -> np.ndarray:
    """The ids a classifier reads for ``text``: normalised if ``normalized``, cut to
    ``max_length`` (0: all of it)."""
    ids = tokenizer.encode(normalize(text) if normalized else text)
    return ids[:max_length] if max_length else ids


def encode(
    examples: Sequence[Example],
    tokenizer: Tokenizer,
    labels: Sequence[str],
    normalized: bool,
    max_length: int,
) -> LabeledData:
    """Token ids of each text (``token_ids``) and the index of its label in ``labels``;
    a label outside ``labels`` is refused, naming where it is (``labeled.label_ids``)."""
    ids = label_ids(examples, labels)
    sequences = [token_ids(e.text, tokenizer, normalized, max_length) for e in examples]
    return LabeledData(sequences, ids)


def class_weights(labels: np.ndarray, classes: int) -> np.ndarray:
    """Balanced weights N / (K * N_k) (King & Zeng 2001; sklearn's "balanced"): each class
    then weighs as much in total, and the mean weight over the data is 1."""
    counts = np.bincount(labels, minlength=classes).astype(np.float64)
    return np.where(counts > 0, len(labels) / (classes * np.maximum(counts, 1)), 0.0)


def make_batches(
    data: LabeledData,
    batch: int,
    rng: np.random.Generator | None = None,
    weights: np.ndarray | None = None,
) -> list[LabeledBatch]:
    """The texts in batches of similar length (shuffled with ``rng``); ``weights`` (K,)
    gives each text its class's weight."""
    out = []
    for index in bucket([len(s) for s in data.sequences], batch, rng):
        ids, lengths = pad([data.sequences[i] for i in index])
        labels = data.labels[index]
        out.append(
            LabeledBatch(ids, lengths, labels, index, None if weights is None else weights[labels])
        )
    return out
