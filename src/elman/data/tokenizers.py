"""Character and word tokenizers with one interface, and their vocabulary files.

A tokenizer is its vocabulary: ``tokens[i]`` is the token with id ``i``. Both kinds
reserve id 0 for ``<unk>``, the token every text token outside the vocabulary maps
to, so an evaluation text with unseen characters or words can still be scored (and
``unknown_tokens`` says how many were unseen).

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
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar, TypeVar

import numpy as np

from elman.errors import ElmanError

UNK = "<unk>"
EOS = "<eos>"

_T = TypeVar("_T", bound="_Tokenizer")


class _Tokenizer:
    """What both tokenizers share: the vocabulary, fitting, encoding and JSON."""

    level: ClassVar[str]
    unit: ClassVar[str]  # what a token is, in messages: "characters" or "words"
    specials: ClassVar[tuple[str, ...]]  # tokens with fixed ids 0, 1, ... in this order

    def __init__(self, tokens: Sequence[str]) -> None:
        """Wrap a vocabulary (id -> token) made by ``fit`` or ``tokenizer_from_json``."""
        problem = self._token_problem(tokens)
        if problem:
            raise ValueError(f"invalid {self.level} vocabulary: {problem}")
        self.tokens: list[str] = list(tokens)
        self._ids: dict[str, int] = {token: i for i, token in enumerate(self.tokens)}
        self.unk_id: int = 0

    @classmethod
    def fit(cls: type[_T], text: str, max_vocab: int = 0, min_count: int = 1) -> _T:
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
        return cls([*cls.specials, *ranked])

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
        return self._split(text)

    def encode(self, text: str) -> np.ndarray:
        """Token ids of text, shape (N,) int64; tokens outside the vocabulary get ``unk_id``."""
        get, unk = self._ids.get, self.unk_id
        ids = [get(token, unk) for token in self._split(text)]
        return np.array(ids, dtype=np.int64)

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
        counts = Counter(self._split(text))
        return Counter({token: n for token, n in counts.items() if token not in self._ids})

    def id_of(self, token: str) -> int:
        """The id of token, ``unk_id`` if it is not in the vocabulary (as ``encode`` does)."""
        return self._ids.get(token, self.unk_id)

    def __contains__(self, token: object) -> bool:
        return token in self._ids

    def __len__(self) -> int:
        return len(self.tokens)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _Tokenizer):
            return NotImplemented
        return self.level == other.level and self.tokens == other.tokens

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} tokens)"

    def to_json(self) -> dict[str, Any]:
        """The vocabulary as JSON data: ``{"level": ..., "tokens": [...]}``."""
        return {"level": self.level, "tokens": list(self.tokens)}


class CharTokenizer(_Tokenizer):
    """Every Unicode code point is a token, newline included.

    A Korean Hangul syllable such as "한" is one code point and so one token. Text is
    not Unicode-normalised: decomposed (NFD) Hangul or accents are several tokens.
    Vocabulary: id 0 is <unk>, then the training characters.

    ``eos_id`` is the id of "\\n" (None if the training text had no newline): the
    token that ends a line, which is what scores a line.
    """

    level = "char"
    unit = "characters"
    specials = (UNK,)

    def __init__(self, tokens: Sequence[str]) -> None:
        super().__init__(tokens)
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


class WordTokenizer(_Tokenizer):
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

    def __init__(self, tokens: Sequence[str]) -> None:
        super().__init__(tokens)
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


Tokenizer = CharTokenizer | WordTokenizer
_CLASSES: dict[str, type[CharTokenizer] | type[WordTokenizer]] = {
    "char": CharTokenizer,
    "word": WordTokenizer,
}


def make_tokenizer(level: str, text: str, max_vocab: int = 0, min_count: int = 1) -> Tokenizer:
    """Fit the tokenizer for ``level`` ("char" or "word") on training text."""
    if level not in _CLASSES:
        raise ElmanError(f"unknown level {level!r}; use one of: {', '.join(_CLASSES)}.")
    return _CLASSES[level].fit(text, max_vocab=max_vocab, min_count=min_count)


def _damaged(where: str, problem: str) -> ElmanError:
    return ElmanError(
        f"{where} is not a valid vocabulary ({problem}): the vocabulary file is damaged or "
        "was edited by hand, so restore it or train again."
    )


def tokenizer_from_json(data: Any, where: str) -> Tokenizer:
    """Rebuild a tokenizer from ``to_json`` data, checking it; ``where`` names the source file."""
    if not isinstance(data, dict):
        raise _damaged(where, f"expected a JSON object, got {type(data).__name__}")
    unexpected = sorted(set(data) - {"level", "tokens"})
    if unexpected:
        raise _damaged(where, f"unexpected keys {unexpected}")
    level = data.get("level")
    if level not in _CLASSES:
        raise _damaged(where, f"level is {level!r}, expected 'char' or 'word'")
    cls = _CLASSES[level]
    tokens = data.get("tokens")
    problem = cls._token_problem(tokens)
    if problem:
        raise _damaged(where, problem)
    return cls(tokens)


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
