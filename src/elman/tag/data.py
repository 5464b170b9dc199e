"""A tagger's data: sentences as word ids, character ids and tag ids, in batches of
sentences of similar length, each distinct word of a batch read once by the character
layer."""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from elman.data.conllu import Sentence
from elman.data.padded import bucket, mask_of, pad
from elman.data.tokenizers import EOS, UNK, CharTokenizer, WordTokenizer
from elman.errors import ElmanError

# Character features read at most this many characters from each end of a word: the
# prefix and suffix carry what matters for the tag, and a batch is as slow as its
# longest word (URLs reach 100 characters).
WORD_ENDS = 10


@dataclass(frozen=True)
class TaggedBatch:
    """Right-padded sentences, their tags and the characters of their distinct words."""

    ids: np.ndarray  # (B, T) word ids, 0 past each length
    lengths: np.ndarray  # (B,) words in each sentence
    tags: np.ndarray  # (B, T) tag ids, 0 past each length
    forms: np.ndarray  # (B, T) row of each word in ``chars``
    chars: np.ndarray  # (U, C) character ids of each distinct word of the batch
    char_lengths: np.ndarray  # (U,)
    index: np.ndarray  # (B,) position of each sentence in its dataset

    @property
    def mask(self) -> np.ndarray:
        return mask_of(self.lengths, self.ids.shape[1])


@dataclass
class TaggedData:
    """Encoded sentences."""

    words: list[np.ndarray]  # word ids of each sentence (<unk> for words not in the vocabulary)
    tags: list[np.ndarray]  # tag ids of each sentence (empty arrays when unknown)
    forms: list[np.ndarray]  # of each word, its row in ``chars``
    chars: list[np.ndarray]  # character ids of each distinct word form


def vocabulary_form(word: str, lowercase: bool = False) -> str:
    """The form a word is looked up under: whitespace inside it (a few treebanks have
    words such as "10 000") becomes "_", since vocabulary words have none."""
    word = "_".join(word.split())
    return word.lower() if lowercase else word


SPLITS = ("punctuation", "whitespace")  # how a sentence to tag is split (TaggerConfig.split)


def split_words(text: str, words: WordTokenizer, lowercase: bool, how: str) -> list[str]:
    """The words of a sentence to tag, split as the tagger's ``how`` says (its
    ``TaggerConfig.split``, recorded in its checkpoint):

    whitespace   at whitespace, and nothing more
    punctuation  at whitespace, then each piece the vocabulary lacks (looked up as
                 ``vocabulary_form``) is split as treebanks write words: the marks at its
                 start and end apart (runs of them the vocabulary holds as one word,
                 "..." or "?!", else one by one), then a clitic the vocabulary holds
                 as a word of its own ("n't", "'s") from the end of what remains

    so "Go home, don't wait!" is Go home , do n't wait ! for a tagger trained on
    Universal Dependencies' English, while a form it saw whole ("U.S.", "e-mail", ":)")
    stays whole."""
    pieces = text.split()
    if how == "whitespace":
        return pieces

    def known(form: str) -> bool:
        found = vocabulary_form(words.prepare(form), lowercase)
        return found in words and found not in (UNK, EOS)

    out: list[str] = []
    for piece in pieces:
        if known(piece):
            out.append(piece)
            continue
        start = 0
        while start < len(piece) and _is_mark(piece[start]):
            start += 1
        end = len(piece)
        while end > start and _is_mark(piece[end - 1]):
            end -= 1
        out += _marks(piece[:start], known)
        out += _without_clitic(piece[start:end], known)
        out += _marks(piece[end:], known)
    return out


def _is_mark(ch: str) -> bool:
    """Punctuation or a symbol (Unicode categories P* and S*): $, %, quotes, brackets."""
    return unicodedata.category(ch)[0] in "PS"


def _marks(run: str, known: Callable[[str], bool]) -> list[str]:
    """A run of marks as words: from the left, the longest the vocabulary holds
    (")..." -> ")", "..."), else one mark."""
    out, i = [], 0
    while i < len(run):
        j = next((j for j in range(len(run), i + 1, -1) if known(run[i:j])), i + 1)
        out.append(run[i:j])
        i = j
    return out


CLITIC_START = "'’n"  # what a clitic the vocabulary holds starts with: 's, ’s, n't


def _without_clitic(core: str, known: Callable[[str], bool]) -> list[str]:
    """``core``, or its stem and the clitic at its end ("don't" -> "do", "n't") when the
    vocabulary lacks ``core`` but holds the clitic as a word."""
    if not core or known(core):
        return [core] if core else []
    for cut in range(1, len(core)):
        clitic = core[cut:]
        if clitic[0] in CLITIC_START and any(_is_mark(ch) for ch in clitic) and known(clitic):
            return [core[:cut], clitic]
    return [core]


def build_vocabularies(
    sentences: Sequence[Sentence], lowercase: bool, max_vocab: int = 0, min_count: int = 1
) -> tuple[WordTokenizer, CharTokenizer, list[str]]:
    """The word vocabulary (<unk>, <eos>, then words by frequency, as
    ``WordTokenizer.fit``), the characters and the sorted tag set of training sentences.
    Both vocabularies read text in NFC, as ``Tokenizer.fit`` makes them."""
    words = WordTokenizer([UNK, EOS], normalize="NFC")  # prepares words as the result will
    counts = Counter(
        vocabulary_form(words.prepare(word), lowercase) for s in sentences for word in s.words
    )
    for special in (UNK, EOS):
        counts.pop(special, None)
    ranked = [word for word, n in counts.most_common() if n >= min_count]
    if max_vocab:
        ranked = ranked[: max(max_vocab - 2, 0)]
    words = WordTokenizer([UNK, EOS, *ranked], normalize="NFC")
    chars = CharTokenizer.fit("".join(word for s in sentences for word in s.words))
    tags = sorted({tag for s in sentences for tag in s.tags})
    return words, chars, tags


def word_ends(ids: np.ndarray) -> np.ndarray:
    """A word's characters, or its first and last ``WORD_ENDS`` when it is longer."""
    if len(ids) <= 2 * WORD_ENDS:
        return ids
    return np.concatenate([ids[:WORD_ENDS], ids[-WORD_ENDS:]])


def encode(
    sentences: Sequence[Sentence],
    words: WordTokenizer,
    chars: CharTokenizer,
    tags: Sequence[str],
    lowercase: bool,
    name: str = "the data",
) -> TaggedData:
    """Word ids (of each word's ``vocabulary_form``), tag ids and character ids of
    sentences; a tag outside ``tags`` is refused, naming the file and the sentence's
    line. Sentences without tags (for prediction) get empty tag arrays."""
    tag_ids = {tag: k for k, tag in enumerate(tags)}
    form_rows: dict[str, int] = {}
    char_ids: list[np.ndarray] = []
    out = TaggedData([], [], [], char_ids)
    for s in sentences:
        out.words.append(
            np.array(
                [words.id_of(vocabulary_form(words.prepare(w), lowercase)) for w in s.words],
                np.int64,
            )
        )
        rows = []
        for word in s.words:
            if word not in form_rows:
                form_rows[word] = len(char_ids)
                char_ids.append(word_ends(chars.encode(word)))
            rows.append(form_rows[word])
        out.forms.append(np.array(rows, np.int64))
        unknown = [tag for tag in s.tags if tag not in tag_ids]
        if unknown:
            raise ElmanError(
                f"{name} line {s.line}: tag {unknown[0]!r} is not one the model was trained "
                f"on ({', '.join(tags)}); fix the tag or retrain."
            )
        out.tags.append(np.array([tag_ids[tag] for tag in s.tags], np.int64))
    return out


def word_counts(data: TaggedData, vocabulary_size: int) -> np.ndarray:
    """How often each word id occurs in ``data`` (V,)."""
    return np.bincount(np.concatenate(data.words), minlength=vocabulary_size)


def make_batches(
    data: TaggedData,
    batch: int,
    rng: np.random.Generator | None = None,
    word_dropout: float = 0.0,
    counts: np.ndarray | None = None,
) -> list[TaggedBatch]:
    """Sentences in batches of similar length (shuffled with ``rng``). With ``rng`` and
    ``word_dropout`` alpha > 0, a word seen ``counts[id]`` times in training becomes
    <unk> with probability alpha / (alpha + count)."""
    out = []
    for index in bucket([len(w) for w in data.words], batch, rng):
        ids, lengths = pad([data.words[i] for i in index])
        tags, _ = pad([data.tags[i] for i in index])
        forms, _ = pad([data.forms[i] for i in index])
        if rng is not None and word_dropout > 0:
            keep = rng.random(ids.shape) >= word_dropout / (word_dropout + counts[ids])
            ids = np.where(keep, ids, 0)
        # Each distinct word of the batch is read once by the character layer.
        unique, inverse = np.unique(forms[mask_of(lengths, ids.shape[1])], return_inverse=True)
        rows = np.zeros_like(forms)
        rows[mask_of(lengths, ids.shape[1])] = inverse.ravel()
        char_ids, char_lengths = pad([data.chars[u] for u in unique])
        if tags.shape != ids.shape:  # untagged sentences, for prediction
            tags = np.zeros_like(ids)
        out.append(TaggedBatch(ids, lengths, tags, rows, char_ids, char_lengths, index))
    return out
