"""Tokenizers against hand-worked vocabularies, the input text (round trips) and PTB rules."""

from __future__ import annotations

import json
import unicodedata
from collections import Counter

import numpy as np
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from elman.data import (
    EOS,
    UNK,
    CharTokenizer,
    WordTokenizer,
    load_vocab,
    make_tokenizer,
    save_vocab,
    tokenizer_from_json,
)
from elman.errors import ElmanError

KOREAN = "안녕하세요, 세계!\n한국어 문장입니다."
PTB = (
    " aer banknote berlitz calloway centrust cluett fromstein gitano guterman \n"
    " pierre <unk> N years old will join the board as a nonexecutive director nov. N \n"
    " mr. <unk> is chairman of <unk> n.v. the dutch publishing group \n"
)


def words_reference(text: str) -> str:
    """What WordTokenizer's decode(encode(text)) should give, written out independently."""
    if not text:
        return ""
    body = text[:-1] if text.endswith("\n") else text
    return "".join(" ".join(line.split()) + "\n" for line in body.split("\n"))


# --- characters ---------------------------------------------------------------------


def test_char_vocab_order_by_count_then_first_appearance():
    """Hand-counted: a x3, b x2, then c and the newline once each, c first."""
    tok = CharTokenizer.fit("abcab\na")
    assert tok.tokens == [UNK, "a", "b", "c", "\n"]
    assert tok.level == "char" and len(tok) == 5 and tok.unk_id == 0
    assert tok.eos_id == 4


def test_char_eos_id_none_without_newline():
    assert CharTokenizer.fit("abc").eos_id is None


def test_char_korean_round_trip():
    """Each Hangul syllable is one token; decoding gives back the text."""
    tok = CharTokenizer.fit(KOREAN)
    ids = tok.encode(KOREAN)
    assert ids.dtype == np.int64 and ids.shape == (len(KOREAN),)
    assert tok.tokenize("한국") == ["한", "국"]
    assert tok.decode(ids) == KOREAN


def test_char_unknown_maps_to_unk_and_is_counted():
    tok = CharTokenizer.fit("abc")
    assert tok.encode("abzzy").tolist() == [1, 2, 0, 0, 0]
    assert tok.decode(tok.encode("abz")) == "ab\ufffd"
    assert tok.unknown_tokens("abzzy") == Counter({"z": 2, "y": 1})
    assert tok.unknown_tokens("cab") == Counter()
    assert tok.id_of("b") == 2 and tok.id_of("z") == tok.unk_id
    assert "b" in tok and "z" not in tok


def test_char_encode_empty():
    tok = CharTokenizer.fit("abc")
    assert tok.encode("").dtype == np.int64 and tok.encode("").shape == (0,)
    assert tok.decode([]) == ""


def test_decode_rejects_ids_outside_vocab():
    tok = CharTokenizer.fit("abc")
    with pytest.raises(ValueError, match=r"expected ids in \[0, 4\)"):
        tok.decode([1, 4])
    with pytest.raises(ValueError, match=r"expected ids in \[0, 4\)"):
        tok.decode([-1])


@given(st.text(min_size=1))
@example("\U0002f800\uf900\u1100\u1161")  # compatibility ideographs, decomposed Hangul
def test_char_round_trip_any_unicode(text):
    """Fitted on the text itself, decode(encode(text)) is the text as the tokenizer reads
    it, in NFC (U+F900 reads as U+8C48, decomposed Hangul as syllables)."""
    tok = CharTokenizer.fit(text)
    assert tok.decode(tok.encode(text)) == unicodedata.normalize("NFC", text)
    assert tok.unknown_tokens(text) == Counter()


# --- words --------------------------------------------------------------------------


def test_word_tokenize_follows_ptb_lines():
    tok = WordTokenizer.fit("x")
    assert tok.tokenize("a b\n\nc  d \n") == ["a", "b", EOS, EOS, "c", "d", EOS]
    assert tok.tokenize("a b") == ["a", "b", EOS]  # a last line without "\n" still ends
    assert tok.tokenize("\n") == [EOS]
    assert tok.tokenize("") == []


def test_word_vocab_order_and_specials():
    """Hand-counted: the x3, cat x2, sat and dog once each, sat first; specials first."""
    tok = WordTokenizer.fit("the cat sat\nthe cat\nthe dog\n")
    assert tok.tokens == [UNK, EOS, "the", "cat", "sat", "dog"]
    assert (tok.unk_id, tok.eos_id, tok.level) == (0, 1, "word")


def test_word_ptb_round_trip_and_literal_unk():
    """PTB lines come back whitespace-normalised; the literal <unk> is the unk id."""
    tok = WordTokenizer.fit(PTB)
    ids = tok.encode(PTB)
    assert tok.decode(ids) == words_reference(PTB)
    assert tok.decode(ids).splitlines()[1].startswith("pierre <unk> N years old")
    assert tok.tokens[:2] == [UNK, EOS] and tok.tokens.count(UNK) == 1
    assert (ids == tok.unk_id).sum() == 3
    assert tok.unknown_tokens(PTB) == Counter()  # <unk> is in the vocabulary


def test_word_korean_round_trip():
    tok = WordTokenizer.fit(KOREAN)
    assert tok.tokenize(KOREAN) == ["안녕하세요,", "세계!", EOS, "한국어", "문장입니다.", EOS]
    assert tok.decode(tok.encode(KOREAN)) == KOREAN + "\n"


def test_word_unknown_maps_to_unk_and_is_counted():
    tok = WordTokenizer.fit("the cat sat\n")
    text = "the bird saw the bird\n"
    assert tok.encode(text).tolist() == [2, 0, 0, 2, 0, 1]
    assert tok.decode(tok.encode(text)) == "the <unk> <unk> the <unk>\n"
    assert tok.unknown_tokens(text) == Counter({"bird": 2, "saw": 1})


def test_word_decode_spacing_around_eos():
    tok = WordTokenizer.fit("a b\n")
    assert tok.decode([2, 3, 1, 1, 2]) == "a b\n\na"
    assert tok.decode([1]) == "\n"


# Arbitrary Unicode, plus text dense in spaces and line ends to exercise the line rules.
WORDY_TEXT = st.text() | st.text(st.sampled_from(["a", "b", "한", " ", "\t", "\n", "\u3000"]))


@given(WORDY_TEXT)
@example("\U0002f800 a\n")  # failed at random before the reference read NFC (issue 26)
def test_word_round_trip_any_unicode(text):
    """decode(encode(text)) is each line's words joined by one space, lines ended by "\\n",
    of the text as the tokenizer reads it, in NFC (U+2F800 reads as U+4E3D)."""
    read = unicodedata.normalize("NFC", text)
    words = set(read.split())
    assume(words - {UNK, EOS})  # fit needs a real word
    assume(EOS not in words)  # a literal <eos> word is a line end by design
    tok = WordTokenizer.fit(text)
    assert tok.decode(tok.encode(text)) == words_reference(read)


# --- vocabulary size ----------------------------------------------------------------


def test_max_vocab_counts_specials():
    """max_vocab 4 = <unk>, <eos> and the two most frequent words (PTB's 10k rule)."""
    tok = WordTokenizer.fit("c c c b b a d d\n", max_vocab=4)
    assert tok.tokens == [UNK, EOS, "c", "b"]
    assert tok.encode("a d c\n").tolist() == [0, 0, 2, 1]
    assert tok.unknown_tokens("a d c\n") == Counter({"a": 1, "d": 1})


def test_max_vocab_larger_than_needed_keeps_all():
    assert len(CharTokenizer.fit("aab", max_vocab=100)) == 3


def test_min_count_leaves_out_rare_tokens():
    tok = CharTokenizer.fit("aaabbc", min_count=2)
    assert tok.tokens == [UNK, "a", "b"]
    assert tok.encode("abc").tolist() == [1, 2, 0]


def test_min_count_and_max_vocab_together():
    tok = CharTokenizer.fit("aaabbbccd", max_vocab=3, min_count=2)
    assert tok.tokens == [UNK, "a", "b"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_vocab": -1}, "max_vocab must be"),
        ({"max_vocab": 2}, "max_vocab must be"),  # only room for <unk> and <eos>
        ({"min_count": 0}, "min_count must be at least 1"),
        ({"min_count": 5}, "min_count 5 leaves no tokens"),
    ],
)
def test_bad_vocab_settings(kwargs, message):
    with pytest.raises(ElmanError, match=message):
        WordTokenizer.fit("a a b\n", **kwargs)


@pytest.mark.parametrize(
    ("cls", "text"), [(CharTokenizer, ""), (WordTokenizer, "  \n\n"), (WordTokenizer, "<unk>")]
)
def test_fit_on_text_without_tokens(cls, text):
    with pytest.raises(ElmanError, match="no (characters|words) to build a vocabulary"):
        cls.fit(text)


def test_make_tokenizer_picks_class_by_level():
    assert isinstance(make_tokenizer("char", "ab"), CharTokenizer)
    tok = make_tokenizer("word", "a b a\n", max_vocab=3)
    assert isinstance(tok, WordTokenizer) and tok.tokens == [UNK, EOS, "a"]
    with pytest.raises(ElmanError, match="unknown level 'byte'"):
        make_tokenizer("byte", "ab")


# --- vocabulary files ---------------------------------------------------------------


@pytest.mark.parametrize(("cls", "text"), [(CharTokenizer, KOREAN), (WordTokenizer, PTB)])
def test_vocab_file_round_trip(tmp_path, cls, text):
    """The loaded tokenizer equals the saved one and encodes the same ids."""
    tok = cls.fit(text)
    path = tmp_path / "vocab.json"
    save_vocab(tok, path)
    raw = path.read_text(encoding="utf-8")
    assert "안" in raw or cls is WordTokenizer  # ensure_ascii=False keeps it readable
    loaded = load_vocab(path)
    assert type(loaded) is cls and loaded == tok
    assert np.array_equal(loaded.encode(text), tok.encode(text))
    assert json.loads(raw) == {"level": cls.level, "normalize": "NFC", "tokens": tok.tokens}


def test_to_json_shape():
    """New vocabularies record their normalisation; one without (from before it existed)
    writes no key."""
    expected = {"level": "char", "normalize": "NFC", "tokens": [UNK, "b", "a", "\n"]}
    assert CharTokenizer.fit("ba\n").to_json() == expected
    assert CharTokenizer([UNK, "b"]).to_json() == {"level": "char", "tokens": [UNK, "b"]}


def test_text_is_read_in_nfc_so_decomposed_korean_is_the_same_syllables():
    """ "한국어" typed or saved decomposed (NFD: separate jamo) encodes as the composed
    syllables the vocabulary holds; a vocabulary from before normalisation (no
    ``normalize`` in its file) reads text as it is, as it always did."""
    composed = "한국어 문장\n"
    decomposed = unicodedata.normalize("NFD", composed)
    assert len(decomposed) > len(composed)
    tok = CharTokenizer.fit(composed)
    assert tok.encode(decomposed).tolist() == tok.encode(composed).tolist()
    assert not tok.unknown_tokens(decomposed)
    old = tokenizer_from_json({"level": "char", "tokens": tok.tokens}, "old vocab.json")
    assert old.normalize is None and sum(old.unknown_tokens(decomposed).values()) > 0
    words = WordTokenizer.fit(composed)
    assert words.encode(decomposed).tolist() == words.encode(composed).tolist()


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"level": "char", "tokens": [UNK, "a", "b", "a"]}, "token 3 'a' appears twice"),
        ({"level": "char", "tokens": ["a", "b"]}, "token 0 must be '<unk>'"),
        ({"level": "word", "tokens": [UNK, "the", EOS]}, "token 1 must be '<eos>'"),
        ({"level": "byte", "tokens": [UNK, "a"]}, "level is 'byte'"),
        ({"level": "char", "tokens": [UNK, "ab"]}, "token 1 'ab' is not a single character"),
        ({"level": "char", "tokens": [UNK, EOS]}, "is not a single character"),
        ({"level": "word", "tokens": [UNK, EOS, "two words"]}, "is not a word"),
        ({"level": "word", "tokens": [UNK, EOS, 7]}, "token 2 is 7, not a string"),
        ({"level": "word", "tokens": "abc"}, "tokens must be a list"),
        ({"level": "word"}, "tokens must be a list"),
        ({"level": "char", "tokens": [UNK], "extra": 1}, "unexpected keys"),
        ([UNK, "a"], "expected a JSON object"),
    ],
)
def test_hand_edited_vocab_rejected(data, problem):
    with pytest.raises(ElmanError) as info:
        tokenizer_from_json(data, "run/vocab.json")
    message = str(info.value)
    assert message.startswith("run/vocab.json is not a valid vocabulary")
    assert problem in message and "edited by hand" in message


def test_load_vocab_edited_file_with_duplicate(tmp_path):
    path = tmp_path / "vocab.json"
    path.write_text('{"level": "char", "tokens": ["<unk>", "a", "a"]}', encoding="utf-8")
    with pytest.raises(ElmanError, match="vocab.json is not a valid vocabulary.*appears twice"):
        load_vocab(path)


@pytest.mark.parametrize("content", [b'{"level": "char", "tokens": ["<unk>", "a"', b"", b"\xff"])
def test_load_vocab_not_json(tmp_path, content):
    path = tmp_path / "vocab.json"
    path.write_bytes(content)
    with pytest.raises(ElmanError, match="vocab.json is not a valid vocabulary.*edited by hand"):
        load_vocab(path)


def test_load_vocab_missing_file(tmp_path):
    with pytest.raises(ElmanError, match=r"vocabulary file .*vocab\.json does not exist"):
        load_vocab(tmp_path / "vocab.json")


def test_constructor_refuses_invalid_tokens():
    """Building a tokenizer in code with a bad list is a programming error (ValueError)."""
    with pytest.raises(ValueError, match="appears twice"):
        CharTokenizer([UNK, "a", "a"])
