"""Tokenizers behind one interface (``Tokenizer``: characters and words, with room for
subwords), and their vocabulary files.

A tokenizer is its vocabulary: ``tokens[i]`` is the token with id ``i``. Every kind
reserves id 0 for ``<unk>``, the token every text token outside the vocabulary maps
to, so an evaluation text with unseen characters or words can still be scored (and
``unknown_tokens`` says how many were unseen).

Text is normalised to Unicode NFC on the way in (``normalize = "NFC"``, the default
for new vocabularies and recorded in their files): Korean typed or saved decomposed
(NFD) would otherwise be separate jamo, unknown to a model trained on composed
syllables. Vocabularies written before this rule existed have no ``normalize`` in
their file and keep reading text as it is.

A new kind of tokenizer subclasses ``Tokenizer`` (``level``, ``unit``, ``specials``,
``_split``, ``decode``) and joins ``TOKENIZERS``; nothing else in elman names a level.

>>> tok = WordTokenizer.fit("the cat sat\\nthe dog\\n")
>>> tok.tokens
['<unk>', '<eos>', 'the', 'cat', 'sat', 'dog']
>>> tok.encode("the bird\\n").tolist()
[2, 0, 1]
>>> tok.decode([2, 3, 1, 5, 1])
'the cat\\ndog\\n'
"""

from __future__ import annotations

import json
import os
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar, TypeVar

import numpy as np

from elman.errors import ElmanError

UNK = "<unk>"
EOS = "<eos>"

_T = TypeVar("_T", bound="Tokenizer")
NORMALIZATIONS = ("NFC",)


class Tokenizer:
    """Text <-> token ids over a vocabulary; what every kind of tokenizer offers.

    ``level`` names the kind (``TOKENIZERS``), ``unk_id`` is 0 and ``eos_id`` the token
    that ends a line (None when the vocabulary has none). ``sample_length`` is how many
    tokens a generated sample has by default, and ``sample_unknown`` whether <unk> may be
    sampled at all (a word model writes it as the Penn Treebank does; a character model
    would write U+FFFD, no text at all).
    """

    level: ClassVar[str]
    unit: ClassVar[str]  # what a token is, in messages: "characters" or "words"
    specials: ClassVar[tuple[str, ...]]  # tokens with fixed ids 0, 1, ... in this order
    sample_length: ClassVar[int]
    sample_unknown: ClassVar[bool]
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
        """
        if max_vocab < 0 or 0 < max_vocab <= len(cls.specials):
            raise ElmanError(
                f"max_vocab must be 0 (no limit) or more than the {len(cls.specials)} special "
                f"tokens, got {max_vocab}; raise it."
            )
        if min_count < 1:
            raise ElmanError(f"min_count must be at least 1, got {min_count}; use 1 to keep all.")
        if normalize:
            text = unicodedata.normalize(normalize, text)
        counts = Counter(cls._split(text))
        for special in cls.specials:
            counts.pop(special, None)
        if not counts:
            raise ElmanError(
                f"the training text has no {cls.unit} to build a vocabulary from; "
                f"give a text with some {cls.unit}."
            )
        # most_common keeps first-appearance order among equal counts (Counter docs).
        ranked = [token for token, n in counts.most_common() if n >= min_count]
        if not ranked:
            raise ElmanError(
                f"min_count {min_count} leaves no tokens in the vocabulary (the most frequent "
                f"appears {counts.most_common(1)[0][1]} times); lower min_count."
            )
        if max_vocab:
            ranked = ranked[: max_vocab - len(cls.specials)]
        return cls([*cls.specials, *ranked], normalize)

    @staticmethod
    def _split(text: str) -> list[str]:
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

    def encode(self, text: str) -> np.ndarray:
        """Token ids of text, shape (N,) int64; tokens outside the vocabulary get ``unk_id``."""
        get, unk = self._ids.get, self.unk_id
        ids = [get(token, unk) for token in self.tokenize(text)]
        return np.array(ids, dtype=np.int64)

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

    def piece(self, previous: int, token: int) -> str:
        """The text ``token`` adds after ``previous``, for output that grows a token at a
        time. Decoding is prefix-stable and the joint between two tokens depends on them
        alone (a space between words, none around a line end), so this is exact."""
        return self.decode([previous, token])[len(self.decode([previous])) :]

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
        counts = Counter(self.tokenize(text))
        return Counter({token: n for token, n in counts.items() if token not in self._ids})

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
        return (self.level, self.tokens, self.normalize) == (
            other.level,
            other.tokens,
            other.normalize,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} tokens)"

    def to_json(self) -> dict[str, Any]:
        """The vocabulary as JSON data: ``{"level": ..., "normalize": ..., "tokens": [...]}``
        (no ``normalize`` when text is read as it is)."""
        data: dict[str, Any] = {"level": self.level}
        if self.normalize:
            data["normalize"] = self.normalize
        return {**data, "tokens": list(self.tokens)}


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

    def __init__(self, tokens: Sequence[str], normalize: str | None = None) -> None:
        super().__init__(tokens, normalize)
        self.eos_id: int | None = self._ids.get("\n")
        # The replacement character shows where an unknown character was.
        self._decode_table = ["\ufffd", *self.tokens[1:]]

    @staticmethod
    def _split(text: str) -> list[str]:
        return list(text)

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


TOKENIZERS: dict[str, type[Tokenizer]] = {cls.level: cls for cls in (CharTokenizer, WordTokenizer)}


def make_tokenizer(level: str, text: str, max_vocab: int = 0, min_count: int = 1) -> Tokenizer:
    """Fit the tokenizer for ``level`` (one of ``TOKENIZERS``) on training text."""
    if level not in TOKENIZERS:
        raise ElmanError(f"unknown level {level!r}; use one of: {', '.join(TOKENIZERS)}.")
    return TOKENIZERS[level].fit(text, max_vocab=max_vocab, min_count=min_count)


def _damaged(where: str, problem: str) -> ElmanError:
    return ElmanError(
        f"{where} is not a valid vocabulary ({problem}): the vocabulary file is damaged or "
        "was edited by hand, so restore it or train again."
    )


def tokenizer_from_json(data: Any, where: str) -> Tokenizer:
    """Rebuild a tokenizer from ``to_json`` data, checking it; ``where`` names the source file."""
    if not isinstance(data, dict):
        raise _damaged(where, f"expected a JSON object, got {type(data).__name__}")
    unexpected = sorted(set(data) - {"level", "normalize", "tokens"})
    if unexpected:
        raise _damaged(where, f"unexpected keys {unexpected}")
    level = data.get("level")
    if level not in TOKENIZERS:
        raise _damaged(where, f"level is {level!r}, expected one of {', '.join(TOKENIZERS)}")
    cls = TOKENIZERS[level]
    tokens = data.get("tokens")
    problem = cls._token_problem(tokens)
    if problem:
        raise _damaged(where, problem)
    normalize = data.get("normalize")  # absent: a vocabulary from before normalisation
    if normalize is not None and normalize not in NORMALIZATIONS:
        raise _damaged(where, f"normalize is {normalize!r}, expected one of {NORMALIZATIONS}")
    return cls(tokens, normalize)


def save_vocab(tokenizer: Tokenizer, path: str | os.PathLike[str]) -> None:
    """Write the vocabulary as UTF-8 JSON, one token per line so it reads and diffs well."""
    text = json.dumps(tokenizer.to_json(), ensure_ascii=False, indent=0)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text + "\n")


def load_vocab(path: str | os.PathLike[str]) -> Tokenizer:
    """Read a vocabulary written by ``save_vocab``."""
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
    return tokenizer_from_json(data, name)
