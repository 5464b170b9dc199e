"""Tokenizers behind one interface (``Tokenizer``: characters, words and learned subword
pieces), and their vocabulary files.

A tokenizer is its vocabulary: ``tokens[i]`` is the token with id ``i``. Every kind
reserves id 0 for ``<unk>``, the token every text token outside the vocabulary maps
to, so an evaluation text with unseen characters or words can still be scored (and
``unknown_tokens`` says how many were unseen). A subword vocabulary falls back to the
text's UTF-8 bytes, so for it no text is ever unknown.

Text is normalised to Unicode NFC on the way in (``normalize = "NFC"``, the default
for new vocabularies and recorded in their files): Korean typed or saved decomposed
(NFD) would otherwise be separate jamo, unknown to a model trained on composed
syllables. Vocabularies written before this rule existed have no ``normalize`` in
their file and keep reading text as it is.

A new kind of tokenizer subclasses ``Tokenizer`` (``level``, ``unit``, ``specials``,
``settings``, ``rules``, ``_split``, ``decode``; ``from_json`` and ``files`` if its
file holds more than tokens) and joins ``TOKENIZERS``; nothing else in elman names a
level, it asks the tokenizer.

>>> tok = WordTokenizer.fit("the cat sat\\nthe dog\\n")
>>> tok.tokens
['<unk>', '<eos>', 'the', 'cat', 'sat', 'dog']
>>> tok.encode("the bird\\n").tolist()
[2, 0, 1]
>>> tok.decode([2, 3, 1, 5, 1])
'the cat\\ndog\\n'
"""

from __future__ import annotations

import codecs
import hashlib
import io
import json
import os
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np
import sentencepiece as spm

from elman.errors import ElmanError

UNK = "<unk>"
EOS = "<eos>"

_T = TypeVar("_T", bound="Tokenizer")
NORMALIZATIONS = ("NFC",)
# Reads the extra file ``key`` a tokenizer's vocabulary needs (``Tokenizer.files``).
FileReader = Callable[[str], bytes]


UNICODE = 0x110000  # code points U+0000 ... U+10FFFF
# Texts are tokenised in pieces of about this many characters, each ending at a line end
# (``line_chunks``): the memory a text's tokens take while they are split is then that of
# a piece, not of the text (a character split into a list is a string object of its own,
# some 60 bytes).
CHUNK_CHARS = 1 << 20


@dataclass(frozen=True)
class TextCounts:
    """What a text's tokens write, summed: its tokens, the NFC characters and UTF-8 bytes
    they write, how many are outside the vocabulary, and what the first token writes (a
    stream reads it and never predicts it). Enough for bits per character over a text
    whose tokens are not kept one by one (a prepared corpus, ``elman.data.prepared``);
    ``EncodedText.counts`` sums one that is."""

    tokens: int
    chars: int
    bytes: int
    unknown: int = 0
    first_chars: int = 0
    first_bytes: int = 0

    def __add__(self, other: TextCounts) -> TextCounts:
        """The counts of this text followed by ``other``."""
        first = self if self.tokens else other
        return TextCounts(
            self.tokens + other.tokens,
            self.chars + other.chars,
            self.bytes + other.bytes,
            self.unknown + other.unknown,
            first.first_chars,
            first.first_bytes,
        )

    def scored(self, unscored: int) -> tuple[int, int]:
        """The characters and bytes written by the tokens after the first ``unscored``
        (0, or 1 for streams, whose first token is read and never predicted)."""
        if unscored and self.tokens:
            return self.chars - self.first_chars, self.bytes - self.first_bytes
        return self.chars, self.bytes


NO_TEXT = TextCounts(0, 0, 0)


@dataclass(frozen=True)
class EncodedText:
    """A text's token ids and what of the text each token stands for: the NFC characters
    and UTF-8 bytes it writes (``Tokenizer.encode_text``), so that a loss summed over
    some of the tokens can be divided by the characters those tokens cover."""

    ids: np.ndarray  # (N,) int64
    chars: np.ndarray  # (N,) int64, characters each token writes (a line end: one)
    bytes: np.ndarray  # (N,) int64, their UTF-8 bytes
    unknown: int  # tokens outside the vocabulary, encoded as <unk>

    def counts(self) -> TextCounts:
        """The sums (``TextCounts``)."""
        if not len(self.ids):
            return NO_TEXT
        return TextCounts(len(self.ids), int(self.chars.sum()), int(self.bytes.sum()),
                          self.unknown, int(self.chars[0]), int(self.bytes[0]))  # fmt: skip


def line_chunks(text: str, size: int = CHUNK_CHARS) -> Iterator[str]:
    """``text`` in pieces of at least ``size`` characters (the last may be shorter), each
    ending just after a line end "\\n" (the last: where the text ends). Every tokenizer
    reads text line by line, and NFC never joins a character across a line end, so the
    pieces' tokens, one after another, are the text's.

    >>> list(line_chunks("ab\\ncd\\nef", 2))
    ['ab\\n', 'cd\\n', 'ef']
    """
    start, end = 0, len(text)
    while start < end:
        cut = text.find("\n", start + size - 1) + 1
        if cut <= 0:  # no line end after ``size`` characters: the rest is one piece
            cut = end
        yield text[start:cut]
        start = cut


def ids_dtype(vocab_size: int) -> np.dtype:
    """The smallest unsigned integer type that holds the ids of ``vocab_size`` tokens:
    uint16 up to 65,536 tokens, uint32 beyond (a corpus's ids take 2 or 4 bytes each)."""
    return np.dtype(np.uint16 if vocab_size <= 1 << 16 else np.uint32)


def _joined(pieces: list[np.ndarray], dtype: Any) -> np.ndarray:
    """The pieces' ids one after another, as ``dtype``."""
    if len(pieces) == 1:
        return pieces[0].astype(dtype, copy=False)
    return np.concatenate(pieces).astype(dtype, copy=False) if pieces else np.zeros(0, dtype)


def code_points(text: str) -> np.ndarray:
    """The code points of ``text``, (N,) uint32 (a lone surrogate, which only text made
    in Python can hold, as itself)."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def utf8_lengths(points: np.ndarray) -> np.ndarray:
    """The UTF-8 bytes of each code point: 1 below U+0080, 2 below U+0800, 3 below
    U+10000 and 4 above."""
    return (1 + (points >= 0x80) + (points >= 0x800) + (points >= 0x10000)).astype(np.int64)


class Tally:
    """Tokens counted piece by piece (``add``), in order of first appearance: ``counts``
    is ``Counter(tokens)`` of all the pieces' tokens one after another, the counter
    ``Tokenizer.fit`` ranks. This one splits each piece (``Tokenizer._split``); a
    tokenizer may count faster (``CharTokenizer``'s counts code points with NumPy)."""

    def __init__(self, split: Callable[[str], list[str]]) -> None:
        self.split, self.counter = split, Counter[str]()

    def add(self, text: str) -> None:
        """Count the tokens of ``text`` (prepared: in NFC when the tokenizer normalises)."""
        # Counter.update keeps the order keys were first seen in, so a token new in this
        # piece comes after every token of the pieces before.
        self.counter.update(self.split(text))

    def counts(self) -> Counter[str]:
        return self.counter


class TextStream:
    """The text a growing sequence of ids writes, a token at a time (``add``), for output
    that is shown as it is sampled; ``end`` gives what is still held back when the
    sequence stops.

    This one serves tokenizers whose joint between two tokens depends on those two alone
    (a space between words, none around a line end, nothing between characters): the
    text ``token`` adds is ``decode([previous, token])`` after ``decode([previous])``. A
    tokenizer for which that is not so gives its own (``Tokenizer.text_stream``)."""

    def __init__(self, tokenizer: Tokenizer, previous: int) -> None:
        self.tokenizer, self.previous = tokenizer, previous

    def add(self, token: int) -> str:
        decode = self.tokenizer.decode
        before = decode([self.previous])
        both = decode([self.previous, token])
        self.previous = token
        return both[len(before) :]

    def end(self) -> str:
        return ""


class _CodePointTally(Tally):
    """Characters counted as code points with NumPy (a character's count in one
    ``bincount`` of a piece), in order of first appearance: the order of a piece's new
    characters is found among their own positions only, which after the first pieces of a
    text are few."""

    BLOCK = 1 << 16  # code points searched at once for characters not seen before

    def __init__(self) -> None:
        self.totals = np.zeros(UNICODE, dtype=np.int64)
        self.seen = np.zeros(UNICODE, dtype=bool)
        self.order: list[np.ndarray] = []  # the code points, in order of first appearance

    def add(self, text: str) -> None:
        points = code_points(text)
        counts = np.bincount(points)
        self.totals[: len(counts)] += counts
        for start in range(0, len(points), self.BLOCK):
            block = points[start : start + self.BLOCK]
            new = block[~self.seen[block]]
            if len(new):
                values, first = np.unique(new, return_index=True)
                self.order.append(values[np.argsort(first)])
                self.seen[values] = True

    def counts(self) -> Counter[str]:
        order = np.concatenate(self.order) if self.order else np.zeros(0, np.int64)
        totals = self.totals[order].tolist()
        return Counter(dict(zip(map(chr, order.tolist()), totals, strict=True)))


class Tokenizer:
    """Text <-> token ids over a vocabulary; what every kind of tokenizer offers.

    ``level`` names the kind (``TOKENIZERS``), ``unk_id`` is 0 and ``eos_id`` the token
    that ends a line (None when the vocabulary has none). ``sample_length`` is how many
    tokens a generated sample has by default, and ``sample_unknown`` whether <unk> may be
    sampled at all (a word model writes it as the Penn Treebank does; a character model
    would write U+FFFD, no text at all). ``settings`` are the training settings (fields of
    ``TrainConfig``) that ``fit`` takes, and ``rules`` say in words how text becomes ids
    and ids text, for readers outside elman (the ONNX export writes them out).
    """

    level: ClassVar[str]
    unit: ClassVar[str]  # what a token is, in messages: "characters" or "words"
    specials: ClassVar[tuple[str, ...]]  # tokens with fixed ids 0, 1, ... in this order
    sample_length: ClassVar[int]
    sample_unknown: ClassVar[bool]
    settings: ClassVar[tuple[str, ...]] = ("max_vocab", "min_count")
    rules: ClassVar[tuple[str, ...]]
    json_keys: ClassVar[tuple[str, ...]] = ("level", "normalize", "tokens")
    growable: ClassVar[bool] = True  # whether ``grown`` can add a new text's tokens
    # Whether a long text is tokenised faster in several processes (``elman.data.prepared``):
    # so when its tokens are split and looked up one by one in Python.
    parallel: ClassVar[bool] = True
    eos_id: int | None

    def __init__(self, tokens: Sequence[str], normalize: str | None = None) -> None:
        """Wrap a vocabulary (id -> token) made by ``fit`` or ``tokenizer_from_json``;
        ``normalize`` ("NFC" or None) is how text is normalised before it is split."""
        problem = self._token_problem(tokens)
        if problem:
            raise ValueError(f"invalid {self.level} vocabulary: {problem}")
        if normalize is not None and normalize not in NORMALIZATIONS:
            raise ValueError(f"normalize must be one of {NORMALIZATIONS} or None, got {normalize}")
        self.tokens: list[str] = list(tokens)
        self.normalize = normalize
        self._ids: dict[str, int] = {token: i for i, token in enumerate(self.tokens)}
        self.unk_id: int = 0

    def prepare(self, text: str) -> str:
        """``text`` as this tokenizer reads it: in NFC when it normalises."""
        return unicodedata.normalize(self.normalize, text) if self.normalize else text

    @classmethod
    def fit(
        cls: type[_T], text: str, max_vocab: int = 0, min_count: int = 1, normalize: str = "NFC"
    ) -> _T:
        """Build the vocabulary from training text.

        The special tokens come first, then the text's tokens by count, most frequent
        first, ties in order of first appearance, so the same text always gives the
        same ids. Tokens seen fewer than ``min_count`` times are left out, and
        ``max_vocab > 0`` caps the whole vocabulary, specials included (the Penn
        Treebank's 10,000 words include <unk> and <eos>). Left-out tokens map to <unk>.
        The text is counted a piece at a time (``fit_chunks``), as a prepared corpus is.
        """
        return cls.fit_chunks(line_chunks(text), max_vocab, min_count, normalize)

    @classmethod
    def fit_chunks(
        cls: type[_T],
        chunks: Iterable[str],
        max_vocab: int = 0,
        min_count: int = 1,
        normalize: str = "NFC",
    ) -> _T:
        """``fit`` on the text that ``chunks`` make one after another, each ending at a line
        end (``line_chunks``, or pieces of files: ``elman.data.prepared``); the vocabulary
        is the one ``fit`` gives for their whole text."""
        cls.check_limits(max_vocab, min_count)
        tally = cls.tally()
        for chunk in chunks:
            tally.add(unicodedata.normalize(normalize, chunk) if normalize else chunk)
        return cls.from_counts(tally.counts(), max_vocab, min_count, normalize)

    @classmethod
    def fit_counts(
        cls: type[_T],
        counts: Counter[str],
        max_vocab: int = 0,
        min_count: int = 1,
        normalize: str = "NFC",
    ) -> _T:
        """``fit`` given the training text's token counts, in order of first appearance
        (``count``'s of its pieces, added in order: a text counted in several processes,
        ``elman.data.prepared``)."""
        cls.check_limits(max_vocab, min_count)
        return cls.from_counts(counts, max_vocab, min_count, normalize)

    @classmethod
    def check_limits(cls, max_vocab: int, min_count: int) -> None:
        """Refuse a ``max_vocab`` that leaves no room beside the specials, a ``min_count``
        below 1."""
        if max_vocab < 0 or 0 < max_vocab <= len(cls.specials):
            raise ElmanError(
                f"max_vocab must be 0 (no limit) or more than the {len(cls.specials)} special "
                f"tokens, got {max_vocab}; raise it."
            )
        if min_count < 1:
            raise ElmanError(f"min_count must be at least 1, got {min_count}; use 1 to keep all.")

    @classmethod
    def count(cls, text: str, normalize: str | None = "NFC") -> Counter[str]:
        """The tokens of ``text`` counted as ``fit`` counts them, in order of first
        appearance: a piece's counts, which added in the pieces' order are the whole
        text's."""
        tally = cls.tally()
        tally.add(unicodedata.normalize(normalize, text) if normalize else text)
        return tally.counts()

    @classmethod
    def tally(cls) -> Tally:
        """A ``Tally`` of this kind's tokens: how ``fit`` counts them."""
        return Tally(cls._split)  # type: ignore[arg-type]

    @classmethod
    def from_counts(
        cls: type[_T],
        counts: Counter[str],
        max_vocab: int = 0,
        min_count: int = 1,
        normalize: str | None = "NFC",
    ) -> _T:
        """The vocabulary ``fit`` builds from the token ``counts`` of a training text (in
        order of first appearance, as ``tally`` counts them)."""
        ranked = cls._ranked(counts)
        if not ranked:
            raise ElmanError(
                f"the training text has no {cls.unit} to build a vocabulary from; "
                f"give a text with some {cls.unit}."
            )
        kept = [token for token, n in ranked if n >= min_count]
        if not kept:
            raise ElmanError(
                f"min_count {min_count} leaves no tokens in the vocabulary (the most frequent "
                f"appears {ranked[0][1]} times); lower min_count."
            )
        if max_vocab:
            kept = kept[: max_vocab - len(cls.specials)]
        return cls([*cls.specials, *kept], normalize)

    @classmethod
    def _ranked(cls, counts: Counter[str]) -> list[tuple[str, int]]:
        """The counted tokens but the specials, most frequent first, ties in order of
        first appearance (``most_common`` sorts stably)."""
        return [(t, n) for t, n in counts.most_common() if t not in cls.specials]

    def grown(self: _T, counts: Counter[str], min_count: int = 1, max_vocab: int = 0) -> _T:
        """This vocabulary with the tokens of ``counts`` (a new text's, counted as
        ``tally`` counts) that it lacks added after its own, ranked as ``fit`` ranks them:
        every old token keeps its id. ``min_count`` and ``max_vocab`` (0: no limit; the
        whole vocabulary, as in ``fit``) limit what is added."""
        if not self.growable:
            raise ValueError(f"a {self.level} vocabulary cannot grow")
        new = [t for t, n in self._ranked(counts) if n >= min_count and t not in self]
        if max_vocab:
            new = new[: max(max_vocab - len(self), 0)]
        return type(self)([*self.tokens, *new], self.normalize)

    def _split(self, text: str) -> list[str]:
        """The tokens of prepared text, as strings; a fixed rule (a static method) or one
        that uses what the tokenizer learned."""
        raise NotImplementedError

    @classmethod
    def _token_problem(cls, tokens: Sequence[str]) -> str | None:
        """Describe what is wrong with a token list, or return None if it is valid."""
        if not isinstance(tokens, (list, tuple)):
            return f"tokens must be a list, got {type(tokens).__name__}"
        for i, token in enumerate(tokens):
            if not isinstance(token, str):
                return f"token {i} is {token!r}, not a string"
        for i, special in enumerate(cls.specials):
            if len(tokens) <= i or tokens[i] != special:
                return f"token {i} must be {special!r}"
        seen: set[str] = set()
        for i, token in enumerate(tokens):
            if token in seen:
                return f"token {i} {token!r} appears twice"
            seen.add(token)
        return None

    def tokenize(self, text: str) -> list[str]:
        """Split text into tokens (strings, whether or not they are in the vocabulary)."""
        return self._split(self.prepare(text))

    def encode(self, text: str, dtype: Any = np.int64) -> np.ndarray:
        """Token ids of text, shape (N,) ``dtype`` (a training corpus keeps them in the
        smallest that holds the vocabulary: ``ids_dtype``); tokens outside the vocabulary
        get ``unk_id``. Long text is read a piece at a time (``line_chunks``)."""
        pieces = [
            self._encode_prepared(self.prepare(chunk)).astype(dtype, copy=False)
            for chunk in line_chunks(text)
        ]
        return _joined(pieces, dtype)

    def _encode_prepared(self, text: str) -> np.ndarray:
        """The ids of prepared text (int64)."""
        get, unk = self._ids.get, self.unk_id
        return np.array([get(token, unk) for token in self._split(text)], dtype=np.int64)

    def encode_text(self, text: str) -> EncodedText:
        """The ids of text (as ``encode``) with the characters and bytes each token
        writes (``EncodedText``): with every token in the vocabulary they add up to the
        length of ``decode(ids)``, and a token the vocabulary lacks counts the
        characters of the text it stands for."""
        tokens = self.tokenize(text)
        get, unk = self._ids.get, self.unk_id
        ids = np.array([get(token, unk) for token in tokens], dtype=np.int64)
        chars, nbytes = self._measure(tokens)
        unknown = sum(token not in self._ids for token in tokens)
        return EncodedText(ids, chars, nbytes, unknown)

    def encode_counted(self, text: str, dtype: Any = np.int64) -> tuple[np.ndarray, TextCounts]:
        """The ids of text (as ``encode``) and what they write, summed (``TextCounts``):
        ``encode_text`` a piece at a time, so that a long text's tokens are never all
        held one by one."""
        pieces, counts = [], NO_TEXT
        for chunk in line_chunks(text):
            encoded = self.encode_text(chunk)
            pieces.append(encoded.ids.astype(dtype, copy=False))
            counts = counts + encoded.counts()
        return _joined(pieces, dtype), counts

    def _measure(self, tokens: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """The characters and UTF-8 bytes each token writes: here the token itself."""
        chars = np.array([len(token) for token in tokens], dtype=np.int64)
        nbytes = np.array([len(token.encode("utf-8")) for token in tokens], dtype=np.int64)
        return chars, nbytes

    def encode_line(self, line: str) -> np.ndarray:
        """The ids of one line of text and of the line end that closes it, when the
        vocabulary has one: what scoring a line predicts."""
        ids = self.encode(line + "\n")
        return ids if self.eos_id is not None else ids[:-1]

    def encode_unfinished(self, text: str) -> np.ndarray:
        """The ids of text that may go on (a prompt): a last line without its "\\n" is
        unfinished, so no line end is added to it."""
        return self.encode(text)

    def decode(self, ids: Iterable[int]) -> str:
        raise NotImplementedError

    def text_stream(self, previous: int) -> TextStream:
        """A ``TextStream`` for ids that follow ``previous``: the text each new token adds,
        a token at a time, never part of a character."""
        return TextStream(self, previous)

    def normal_text(self, text: str) -> str:
        """``text`` as this tokenizer writes it back: ``decode(encode(text))`` when every
        token is in the vocabulary (in NFC, when it normalises)."""
        return self.prepare(text)

    def surface(self, token: str) -> str:
        """What ``token`` looks like in running text, for showing tokens one by one; a
        line end is "\\n"."""
        return token

    def shown(self, tokens: Sequence[str]) -> list[tuple[str, int]]:
        """How ``tokens`` (as ``tokenize`` splits a text) are shown one by one: ``(text,
        n)`` for each piece shown, standing for the next ``n`` tokens. Here each token is
        its ``surface``; a tokenizer whose tokens can be parts of one character (a subword
        model's byte pieces) shows them merged into that character."""
        return [(self.surface(token), 1) for token in tokens]

    def files(self) -> dict[str, bytes]:
        """Files the vocabulary needs beside its JSON, by a short name (``{}``: none); a
        checkpoint stores them as ``vocab.NAME`` and records their sha256."""
        return {}

    def _checked_ids(self, ids: Iterable[int]) -> list[int]:
        """ids as a list of ints, refusing ids outside the vocabulary (no wrap-around)."""
        array = np.asarray(ids, dtype=np.int64)
        if array.ndim != 1:
            raise ValueError(f"expected a 1-D sequence of ids, got shape {array.shape}")
        if array.size and (array.min() < 0 or array.max() >= len(self.tokens)):
            raise ValueError(
                f"expected ids in [0, {len(self.tokens)}), got {array.min()} ... {array.max()}"
            )
        return array.tolist()

    def unknown_tokens(self, text: str) -> Counter[str]:
        """The tokens of text that are not in the vocabulary, with their counts.

        These are the tokens ``encode`` maps to <unk>; a literal ``<unk>`` in a word
        text is the vocabulary's own <unk> and is not counted.
        """
        tally = self.tally()
        for chunk in line_chunks(text):
            tally.add(self.prepare(chunk))
        return Counter({t: n for t, n in tally.counts().items() if t not in self._ids})

    def id_of(self, token: str) -> int:
        """The id of token, ``unk_id`` if it is not in the vocabulary (as ``encode`` does)."""
        return self._ids.get(token, self.unk_id)

    def __contains__(self, token: object) -> bool:
        return token in self._ids

    def __len__(self) -> int:
        return len(self.tokens)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Tokenizer):
            return NotImplemented
        return type(self) is type(other) and self.to_json() == other.to_json()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} tokens)"

    def to_json(self) -> dict[str, Any]:
        """The vocabulary as JSON data: ``{"level": ..., "normalize": ..., "tokens": [...]}``
        (no ``normalize`` when text is read as it is)."""
        data: dict[str, Any] = {"level": self.level}
        if self.normalize:
            data["normalize"] = self.normalize
        return {**data, "tokens": list(self.tokens)}

    @classmethod
    def from_json(cls: type[_T], data: dict[str, Any], where: str, read_file: FileReader) -> _T:
        """Rebuild the tokenizer from ``to_json`` data (its keys already checked against
        ``json_keys``), reading the files it needs with ``read_file``."""
        tokens = data.get("tokens")
        problem = cls._token_problem(tokens)  # type: ignore[arg-type]
        if problem:
            raise _damaged(where, problem)
        normalize = data.get("normalize")  # absent: a vocabulary from before normalisation
        if normalize is not None and normalize not in NORMALIZATIONS:
            raise _damaged(where, f"normalize is {normalize!r}, expected one of {NORMALIZATIONS}")
        return cls(tokens, normalize)  # type: ignore[arg-type]


class CharTokenizer(Tokenizer):
    """Every Unicode code point is a token, newline included.

    A Korean Hangul syllable such as "한" is one code point and so one token; text is
    normalised to NFC first, so decomposed (NFD) Hangul is read as the same syllables.
    Vocabulary: id 0 is <unk>, then the training characters.

    ``eos_id`` is the id of "\\n" (None if the training text had no newline): the
    token that ends a line, which is what scores a line.
    """

    level = "char"
    unit = "characters"
    specials = (UNK,)
    sample_length = 300
    sample_unknown = False
    rules = (
        "Normalise the text to Unicode NFC when 'normalize' is \"NFC\".",
        "Every code point is a token, \"\\n\" included; its id is its index in 'tokens', "
        "and a character not in 'tokens' is id 0 (<unk>).",
        "Decoding: concatenate the tokens; id 0 has no text (elman writes U+FFFD).",
    )

    def __init__(self, tokens: Sequence[str], normalize: str | None = None) -> None:
        super().__init__(tokens, normalize)
        self.eos_id: int | None = self._ids.get("\n")
        # The replacement character shows where an unknown character was.
        self._decode_table = ["\ufffd", *self.tokens[1:]]
        self._id_table: np.ndarray | None = None  # code point -> id, made when first used

    @staticmethod
    def _split(text: str) -> list[str]:
        return list(text)

    # Counted and encoded with NumPy at some 60-120 MB/s: sending the ids back from
    # another process costs about as much as making them.
    parallel = False

    @classmethod
    def tally(cls) -> Tally:
        return _CodePointTally()

    def _table(self) -> np.ndarray:
        """The id of every code point (<unk>'s, 0, for those outside the vocabulary), so
        that a text is encoded with one lookup of its code points: 9 MB, where a list of
        a text's characters takes some 60 bytes a character."""
        if self._id_table is None:
            table = np.zeros(UNICODE, dtype=np.int64)
            points = code_points("".join(self.tokens[1:]))
            table[points] = np.arange(1, len(self.tokens))
            self._id_table = table
        return self._id_table

    def _encode_prepared(self, text: str) -> np.ndarray:
        return self._table()[code_points(text)]

    def encode_text(self, text: str) -> EncodedText:
        """As ``Tokenizer.encode_text``: each token writes one character, of 1 to 4 UTF-8
        bytes."""
        points = code_points(self.prepare(text))
        ids = self._table()[points]
        unknown = int(np.count_nonzero(ids == self.unk_id))
        return EncodedText(ids, np.ones(len(ids), np.int64), utf8_lengths(points), unknown)

    @classmethod
    def _token_problem(cls, tokens: Sequence[str]) -> str | None:
        problem = super()._token_problem(tokens)
        if problem:
            return problem
        for i, token in enumerate(tokens[1:], start=1):
            if len(token) != 1:
                return f"token {i} {token!r} is not a single character"
        return None

    def decode(self, ids: Iterable[int]) -> str:
        """Concatenate the characters; <unk> decodes to "\\ufffd"."""
        table = self._decode_table
        return "".join([table[i] for i in self._checked_ids(ids)])


class WordTokenizer(Tokenizer):
    """Penn Treebank style words: whitespace-separated, each line ended by <eos>.

    The text is split into lines on "\\n" (a single "\\n" at the very end does not
    start another, empty, line) and each line on whitespace with ``str.split()``,
    then <eos> is appended to every line; an empty line is just <eos>. Vocabulary:
    id 0 <unk>, id 1 <eos>, then the words. A literal ``<unk>`` in the text (the
    Penn Treebank has them) is the unknown token; a literal ``<eos>`` ends a line.
    """

    level = "word"
    unit = "words"
    specials = (UNK, EOS)
    sample_length = 60
    sample_unknown = True
    rules = (
        "Normalise the text to Unicode NFC when 'normalize' is \"NFC\".",
        'Split it into lines at "\\n" (a "\\n" at the very end starts no further line), '
        "each line at whitespace (Python's str.split()), and end every line with <eos> "
        "(id 1); a word not in 'tokens' is id 0 (<unk>).",
        'Decoding: words joined by single spaces, <eos> as "\\n" with no space around it.',
    )

    def __init__(self, tokens: Sequence[str], normalize: str | None = None) -> None:
        super().__init__(tokens, normalize)
        self.eos_id: int = 1

    @staticmethod
    def _split(text: str) -> list[str]:
        if not text:
            return []
        lines = text.split("\n")
        if text.endswith("\n"):
            lines.pop()
        tokens: list[str] = []
        for line in lines:
            tokens.extend(line.split())
            tokens.append(EOS)
        return tokens

    def _measure(self, tokens: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """A word writes itself and the space before it, but at a line's start; <eos>
        writes the line end (as ``decode``)."""
        chars, nbytes = super()._measure(tokens)
        at_line_start = True
        for i, token in enumerate(tokens):
            if token == EOS:
                chars[i] = nbytes[i] = 1
                at_line_start = True
            else:
                space = 0 if at_line_start else 1
                chars[i] += space
                nbytes[i] += space
                at_line_start = False
        return chars, nbytes

    def normal_text(self, text: str) -> str:
        """Each line's words single-spaced; a last line without "\\n" keeps none."""
        lines = self.prepare(text).split("\n")
        return "\n".join(" ".join(line.split()) for line in lines)

    def surface(self, token: str) -> str:
        return "\n" if token == EOS else token + " "

    @classmethod
    def _token_problem(cls, tokens: Sequence[str]) -> str | None:
        problem = super()._token_problem(tokens)
        if problem:
            return problem
        for i, token in enumerate(tokens[2:], start=2):
            if token.split() != [token]:
                return f"token {i} {token!r} is not a word (empty or has whitespace)"
        return None

    def encode_unfinished(self, text: str) -> np.ndarray:
        """As ``encode``, without the <eos> that would close a last line lacking its "\\n"."""
        ids = self.encode(text)
        if len(ids) and ids[-1] == self.eos_id and not text.endswith("\n"):
            ids = ids[:-1]
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        """Join words with single spaces; <eos> becomes "\\n" with no space around it."""
        lines: list[str] = []
        line: list[str] = []
        for i in self._checked_ids(ids):
            if i == self.eos_id:
                lines.append(" ".join(line) + "\n")
                line = []
            else:
                line.append(self.tokens[i])
        lines.append(" ".join(line))
        return "".join(lines)


# Sentencepiece writes a space as this "meta symbol" (U+2581) and reads it back as one.
METASPACE = "\u2581"
ALGORITHMS = ("unigram", "bpe")
# The best of 2,000, 4,000, 8,000, 16,000 and 32,000 for a language model of Korean
# movie reviews in bits per character (docs/tokens.md); a text that cannot give that many
# gets as many as it can.
DEFAULT_PIECES = 16_000
BYTES = 256
# Sentencepiece's own training threads. Its statistics are summed per thread, so the
# model it learns depends on their number (a run with 1 thread and one with 16 learn
# different pieces from the same text): fixed, so that the same text and settings always
# give the same model, on any machine.
TRAINING_THREADS = 8
_TOO_SMALL = re.compile(r"smaller than required_chars\. (\d+) vs (\d+)")
_TOO_LARGE = re.compile(r"too high \((\d+)\)\. Please set it to a value <= (\d+)")


class SubwordTokenizer(Tokenizer):
    """Pieces of words learned from the training text by sentencepiece (Kudo & Richardson
    2018): the unigram language model (Kudo 2018, the default) or byte-pair encoding
    (Sennrich et al. 2016), ``vocab_size`` pieces in all.

    Vocabulary: id 0 <unk>, id 1 the line end "\\n" (a piece of its own, the
    tokenizer's end of line, as <eos> is for words), ids 2-257 the 256 bytes, then the
    learned pieces. A character the pieces do not cover is written as its UTF-8 bytes
    (byte fallback), so no text is ever unknown and any text round-trips:
    ``decode(encode(text)) == NFC(text)``. Sentencepiece's own normalisation is off
    (the identity rule, whitespace kept as it is: no dummy prefix, runs of spaces and
    leading spaces kept), so NFC is the only one. A space is written in a piece as
    sentencepiece's meta symbol ▁ (U+2581); a ▁ in the text itself is written as its
    three bytes' pieces, which sentencepiece decodes as ▁, not as a space.

    Trained from the text in memory; the same text and settings always give a
    byte-identical model (``TRAINING_THREADS``). The model is kept as sentencepiece's own
    serialised file (``files()["model"]``), stored beside the vocabulary and read back
    only through sentencepiece.
    """

    level = "subword"
    unit = "pieces"
    specials = (UNK, "\n")
    sample_length = 150
    sample_unknown = False
    settings = ("subword", "vocab_size")
    json_keys = ("level", "normalize", "algorithm", "sha256", "tokens")
    growable = False  # sentencepiece learns its pieces as a whole
    rules = (
        "Normalise the text to Unicode NFC.",
        "Load the SentencePiece model of 'files' (key 'model', in this file's directory) "
        "with sentencepiece.SentencePieceProcessor(model_file=...); its ids are the ids "
        "here and its pieces the 'tokens'.",
        'Encode with it: sp.encode(text) (it splits out "\\n" as eos_id, the line end). '
        "Every U+2581 (▁) of the text itself is written as the three pieces <0xE2> <0x96> "
        "<0x81> (its UTF-8 bytes) and the text on either side encoded apart: sentencepiece "
        "alone would read ▁ as a space.",
        "Decoding: sp.decode(ids).",
    )

    def __init__(self, model: bytes, algorithm: str = "unigram") -> None:
        """Wrap a sentencepiece model (its serialised bytes, as ``fit`` makes them)."""
        if algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {algorithm!r}")
        sp = spm.SentencePieceProcessor()
        sp.LoadFromSerializedProto(model)
        V = sp.get_piece_size()
        super().__init__([sp.id_to_piece(i) for i in range(V)], "NFC")
        self.model, self.algorithm, self._sp = bytes(model), algorithm, sp
        self.eos_id: int = 1
        is_byte = np.array([sp.is_byte(i) for i in range(V)])
        if not (is_byte[2 : 2 + BYTES].all() and is_byte.sum() == BYTES):
            raise ValueError("the sentencepiece model must have the 256 byte pieces at ids 2-257")
        # What each piece writes; a byte piece writes its byte, and the character it
        # belongs to is counted at the byte that completes it (encode_text).
        text = [sp.decode([i]) if not is_byte[i] else "" for i in range(V)]
        self._chars = np.array([len(t) for t in text], dtype=np.int64)
        self._bytes = np.array([len(t.encode("utf-8")) for t in text], dtype=np.int64)
        self._bytes[is_byte] = 1
        self._is_byte = is_byte
        self._continues = np.zeros(V, dtype=bool)  # the byte pieces 0x80-0xBF
        self._continues[2 + 0x80 : 2 + 0xC0] = True
        self._escape = [self.byte_id(b) for b in METASPACE.encode("utf-8")]

    def byte_id(self, value: int) -> int:
        """The id of the piece of byte ``value`` (0-255)."""
        return 2 + value

    @classmethod
    def fit(  # type: ignore[override]
        cls, text: str, subword: str = "", vocab_size: int = 0, normalize: str = "NFC"
    ) -> SubwordTokenizer:
        """Learn ``vocab_size`` pieces from training text with sentencepiece's ``subword``
        algorithm ("unigram" or "bpe"; empty: unigram). ``vocab_size`` 0 asks for
        ``DEFAULT_PIECES``, or as many as the text can give if that is fewer; a size
        given is exact, and refused if the text cannot give it.

        Each line is a sentence (split again at any ▁ of the text), handed over from
        memory; no file is written. Sentencepiece keeps a piece of their own for the
        characters that make 99.95% of the text (its character_coverage), the rest are
        written as bytes."""
        return cls.fit_chunks([text], subword, vocab_size, normalize)

    @classmethod
    def fit_chunks(  # type: ignore[override]
        cls,
        chunks: Iterable[str],
        subword: str = "",
        vocab_size: int = 0,
        normalize: str = "NFC",
    ) -> SubwordTokenizer:
        """``fit`` on the text ``chunks`` make one after another (each ending at a line
        end). ``chunks`` is read twice, first for the longest sentence, then as
        sentencepiece reads the sentences (a list, or pieces of files read again), and
        sentencepiece keeps every sentence in its own memory while it learns."""
        algorithm = subword or "unigram"
        size = vocab_size or DEFAULT_PIECES
        if algorithm not in ALGORITHMS:
            raise ElmanError(f"--subword must be one of {', '.join(ALGORITHMS)}, got {subword!r}.")

        def sentences() -> Iterator[str]:
            for chunk in chunks:
                text = unicodedata.normalize(normalize, chunk)
                yield from (s for line in text.split("\n") for s in line.split(METASPACE) if s)

        longest = max((len(s.encode("utf-8")) for s in sentences()), default=0)
        if not longest:
            raise ElmanError(
                "the training text has no pieces to build a vocabulary from; give a text with "
                "some characters."
            )
        model = io.BytesIO()
        try:
            spm.SentencePieceTrainer.train(
                sentence_iterator=sentences(),
                model_writer=model,
                model_type=algorithm,
                vocab_size=size,
                hard_vocab_limit=bool(vocab_size),  # the default is a most, not a must
                byte_fallback=True,
                user_defined_symbols=["\n"],
                unk_id=0,
                bos_id=-1,
                eos_id=-1,
                pad_id=-1,
                unk_surface="\ufffd",  # as a character model writes <unk>
                normalization_rule_name="identity",
                add_dummy_prefix=False,
                remove_extra_whitespaces=False,
                max_sentence_length=max(longest + 1, 4192),  # no line is left out
                num_threads=TRAINING_THREADS,
                minloglevel=2,  # errors only
            )
        except RuntimeError as e:
            raise _training_error(str(e), size) from None
        return cls(model.getvalue(), algorithm)

    def _encode_ids(self, text: str) -> np.ndarray:
        """The ids of prepared text: each line, and each stretch between the ▁ of the
        text, encoded by sentencepiece; a line end and every ▁ by their own pieces."""
        lines = [line.split(METASPACE) for line in text.split("\n")]
        encoded = iter(self._sp.encode([part for parts in lines for part in parts]))
        ids: list[int] = []
        for i, parts in enumerate(lines):
            if i:
                ids.append(self.eos_id)
            for j in range(len(parts)):
                if j:
                    ids.extend(self._escape)
                ids.extend(next(encoded))
        return np.array(ids, dtype=np.int64)

    def _encode_prepared(self, text: str) -> np.ndarray:
        return self._encode_ids(text)

    def _split(self, text: str) -> list[str]:
        return [self.tokens[i] for i in self._encode_ids(text)]

    def encode_text(self, text: str) -> EncodedText:
        """As ``Tokenizer.encode_text``; a character written as bytes counts at the byte
        piece that completes it (the next piece is no continuation byte)."""
        ids = self.encode(text)
        chars = self._chars[ids]
        completes = ~np.append(self._continues[ids][1:], False)
        chars[self._is_byte[ids] & completes] = 1
        return EncodedText(ids, chars, self._bytes[ids], int(np.sum(ids == self.unk_id)))

    def unknown_tokens(self, text: str) -> Counter[str]:
        """Nothing, but for the <unk> piece itself: every character has a piece or bytes."""
        unknown = int(np.sum(self.encode(text) == self.unk_id))
        return Counter({UNK: unknown}) if unknown else Counter()

    def decode(self, ids: Iterable[int]) -> str:
        """Sentencepiece's decoding: pieces with ▁ as a space, runs of byte pieces as
        UTF-8 (a byte that is no part of a whole character as U+FFFD)."""
        return self._sp.decode(self._checked_ids(ids))

    def text_stream(self, previous: int) -> TextStream:
        return _SubwordStream(self)

    def surface(self, token: str) -> str:
        return token.replace(METASPACE, " ")

    def shown(self, tokens: Sequence[str]) -> list[tuple[str, int]]:
        """As ``Tokenizer.shown``; a run of byte pieces is shown as the characters it
        writes (``text_stream``'s rule: held until a character is whole, U+FFFD for bytes
        that make none), each standing for the pieces it took."""
        out: list[tuple[str, int]] = []
        stream = _SubwordStream(self)
        for token in tokens:
            i = self.id_of(token)
            held = len(stream.held)
            if not self._is_byte[i]:
                if held:
                    out.append((stream.end(), held))
                out.append((self.surface(token), 1))
                continue
            text = stream.add(i)
            if text:
                out.append((text, held + 1 - len(stream.held)))
        if stream.held:
            held = len(stream.held)
            out.append((stream.end(), held))
        return out

    def files(self) -> dict[str, bytes]:
        return {"model": self.model}

    def to_json(self) -> dict[str, Any]:
        """``{"level", "normalize", "algorithm", "sha256" (of the model file), "tokens"}``."""
        return {
            "level": self.level,
            "normalize": self.normalize,
            "algorithm": self.algorithm,
            "sha256": hashlib.sha256(self.model).hexdigest(),
            "tokens": list(self.tokens),
        }

    @classmethod
    def from_json(  # type: ignore[override]
        cls, data: dict[str, Any], where: str, read_file: FileReader
    ) -> SubwordTokenizer:
        """The tokenizer of the model file ``read_file("model")``, refused unless its
        sha256 is the one recorded and its pieces are the recorded tokens."""
        if data.get("normalize") != "NFC" or data.get("algorithm") not in ALGORITHMS:
            raise _damaged(where, "its normalize or algorithm is not one elman writes")
        model = read_file("model")
        if hashlib.sha256(model).hexdigest() != data.get("sha256"):
            raise _damaged(where, "its sentencepiece model does not match the sha256 recorded")
        try:
            tokenizer = cls(model, data["algorithm"])
        except (RuntimeError, ValueError, OSError) as e:
            raise _damaged(where, f"sentencepiece cannot read its model: {e}") from None
        if tokenizer.tokens != data.get("tokens"):
            raise _damaged(where, "its tokens are not the pieces of its sentencepiece model")
        return tokenizer


class _SubwordStream(TextStream):
    """Pieces as text, a token at a time; byte pieces are held back until they make a
    whole character, or cannot (then they show as sentencepiece decodes them: U+FFFD)."""

    def __init__(self, tokenizer: SubwordTokenizer) -> None:
        self.tokenizer = tokenizer
        self.held: list[int] = []  # byte pieces not yet shown: the start of a character
        self.held_bytes = b""

    def add(self, token: int) -> str:
        tok = self.tokenizer
        if not tok._is_byte[token]:
            return self.end() + tok.decode([token])
        byte = bytes([token - tok.byte_id(0)])
        shown = ""
        state = _utf8_state(self.held_bytes + byte)
        if state == "broken" and self.held:  # what is held cannot go on with this byte
            shown, state = self.end(), _utf8_state(byte)
        self.held.append(token)
        self.held_bytes += byte
        return shown + (self.end() if state != "part" else "")

    def end(self) -> str:
        shown = self.tokenizer.decode(self.held) if self.held else ""
        self.held, self.held_bytes = [], b""
        return shown


def _utf8_state(data: bytes) -> str:
    """ "whole" characters, a whole start and "part" of one at its end, or "broken"."""
    try:
        _, used = codecs.utf_8_decode(data, "strict", False)
    except UnicodeDecodeError:
        return "broken"
    return "whole" if used == len(data) else "part"


TOKENIZERS: dict[str, type[Tokenizer]] = {
    cls.level: cls for cls in (CharTokenizer, WordTokenizer, SubwordTokenizer)
}


def make_tokenizer(level: str, text: str, **settings: Any) -> Tokenizer:
    """Fit the tokenizer for ``level`` (one of ``TOKENIZERS``) on training text, with the
    ``settings`` it takes (its ``settings``: max_vocab and min_count for characters and
    words, subword and vocab_size for subword pieces)."""
    return _tokenizer_class(level, settings).fit(text, **settings)


def make_tokenizer_from_chunks(level: str, chunks: Iterable[str], **settings: Any) -> Tokenizer:
    """``make_tokenizer`` on the text ``chunks`` make one after another, each ending at a
    line end (``Tokenizer.fit_chunks``: read once, or twice for subword pieces)."""
    return _tokenizer_class(level, settings).fit_chunks(chunks, **settings)


def _tokenizer_class(level: str, settings: dict[str, Any]) -> type[Tokenizer]:
    if level not in TOKENIZERS:
        raise ElmanError(f"unknown level {level!r}; use one of: {', '.join(TOKENIZERS)}.")
    cls = TOKENIZERS[level]
    unused = sorted(set(settings) - set(cls.settings))
    if unused:
        raise ValueError(f"the {level} tokenizer takes no {unused}")
    return cls


def _training_error(message: str, size: int) -> ElmanError:
    """Sentencepiece's refusal to learn ``size`` pieces, as a sentence with the fix."""
    small, large = _TOO_SMALL.search(message), _TOO_LARGE.search(message)
    if small:
        need = int(small.group(2))
        return ElmanError(
            f"--vocab-size {size:,} is too small for the training text: its {need - BYTES - 2:,} "
            f"most frequent characters need a piece each and, with <unk>, the line end and the "
            f"{BYTES} bytes, that makes {need:,}; use --vocab-size {need} or more."
        )
    if large:
        most = int(large.group(2))
        return ElmanError(
            f"--vocab-size {size:,} is more than the training text can give (at most {most:,} "
            f"pieces); use --vocab-size {most} or less, or a longer text."
        )
    detail = message.strip().splitlines()[-1] if message.strip() else "no reason given"
    return ElmanError(
        f"sentencepiece could not learn {size:,} pieces from the training text ({detail}); "
        "check the text and --vocab-size."
    )


def _damaged(where: str, problem: str) -> ElmanError:
    return ElmanError(
        f"{where} is not a valid vocabulary ({problem}): the vocabulary file is damaged or "
        "was edited by hand, so restore it or train again."
    )


def extra_file(vocab_file: str, name: str) -> str:
    """The file beside ``vocab_file`` holding a tokenizer's file ``name``: vocab.model
    beside vocab.json."""
    return f"{Path(vocab_file).stem}.{name}"


def tokenizer_from_json(data: Any, where: str, read_file: FileReader | None = None) -> Tokenizer:
    """Rebuild a tokenizer from ``to_json`` data, checking it; ``where`` names the source
    file, and ``read_file`` reads the files beside it the tokenizer needs (``files``)."""
    if not isinstance(data, dict):
        raise _damaged(where, f"expected a JSON object, got {type(data).__name__}")
    level = data.get("level")
    if level not in TOKENIZERS:
        raise _damaged(where, f"level is {level!r}, expected one of {', '.join(TOKENIZERS)}")
    cls = TOKENIZERS[level]
    unexpected = sorted(set(data) - set(cls.json_keys))
    if unexpected:
        raise _damaged(where, f"unexpected keys {unexpected}")
    return cls.from_json(data, where, read_file or _no_files(where))


def _no_files(where: str) -> FileReader:
    def read(name: str) -> bytes:
        raise _damaged(where, f"it needs its {name} file, and none was given")

    return read


def save_vocab(tokenizer: Tokenizer, path: str | os.PathLike[str]) -> None:
    """Write the vocabulary as UTF-8 JSON, one token per line so it reads and diffs well.
    The files it needs (``Tokenizer.files``) are the writer's to store beside it, as
    ``extra_file`` names them: a checkpoint does, with their sha256."""
    text = json.dumps(tokenizer.to_json(), ensure_ascii=False, indent=0)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text + "\n")


def load_vocab(path: str | os.PathLike[str], read_file: FileReader | None = None) -> Tokenizer:
    """Read a vocabulary written by ``save_vocab``; the files it needs are read from beside
    it, or with ``read_file`` (a checkpoint's, which checks their recorded sha256)."""
    name = os.fspath(path)
    try:
        with open(name, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise ElmanError(
            f"vocabulary file {name} does not exist; it was moved or deleted, so restore it "
            "or train again."
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise _damaged(name, f"cannot read it as JSON: {e}") from None
    return tokenizer_from_json(data, name, read_file or _beside(Path(name)))


def _beside(path: Path) -> FileReader:
    """Reads a vocabulary's files from beside it."""

    def read(name: str) -> bytes:
        extra = path.with_name(extra_file(path.name, name))
        try:
            return extra.read_bytes()
        except OSError as e:
            raise ElmanError(
                f"{extra}, which the vocabulary {path} needs, cannot be read "
                f"({e.strerror or e}); restore it or train again."
            ) from None

    return read
