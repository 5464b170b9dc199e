"""Subword pieces (sentencepiece) against the input text: exact round trips of any text
(property tests), what each piece writes, the text shown a token at a time, sentencepiece
alone reading the same ids, determinism, the vocabulary file and its model, and the
errors of a vocabulary size the text cannot give."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import unicodedata
from collections import Counter

import numpy as np
import pytest
import sentencepiece as spm
from hypothesis import given, settings
from hypothesis import strategies as st

from elman.data import load_vocab, make_tokenizer, save_vocab, tokenizer_from_json, tokenizers
from elman.data.tokenizers import (
    BYTES,
    METASPACE,
    UNK,
    CharTokenizer,
    SubwordTokenizer,
    WordTokenizer,
    extra_file,
)
from elman.errors import ElmanError

WORDS = [
    "영화", "정말", "재밌다", "최고의", "배우", "연기", "스토리", "지루하다", "감동", "평점",
    "the", "movie", "was", "great", "boring", "actors", "story", "ㅋㅋ", "ㅠㅠ", "!!", "...",
]  # fmt: skip


def corpus(lines: int = 300) -> str:
    """Review-like lines from a fixed word list, the same every time."""
    rng = np.random.default_rng(0)
    return "".join(
        " ".join(rng.choice(WORDS, size=rng.integers(2, 9))) + "\n" for _ in range(lines)
    )


TEXT = corpus()


@pytest.fixture(scope="module", params=["unigram", "bpe"])
def tok(request) -> SubwordTokenizer:
    return SubwordTokenizer.fit(TEXT, subword=request.param, vocab_size=330)


UNIGRAM = SubwordTokenizer.fit(TEXT, vocab_size=330)

# Korean composed and decomposed (NFD jamo), emoji with modifiers and joiners, combining
# marks, tabs and runs of spaces, empty lines, sentencepiece's own ▁, control characters:
# pieces the vocabulary has, and many it has not.
HARD = st.sampled_from(
    [
        *WORDS, "한국어", unicodedata.normalize("NFD", "한국어"), "\u1100\u1161\u11a8",
        "뷁", "😀", "👍🏽", "👨‍👩‍👧", "e\u0301", "\u0301", "a\u0300\u0316", " ", "   ", "\t",
        "\n", "\n\n", "\r\n", METASPACE, METASPACE * 2, f"a{METASPACE}b", "\x00", "\ufffd",
        "\u3000", "\u00a0", "丽", "\U0002f800",
    ]
)  # fmt: skip
ANY_TEXT = st.text() | st.lists(HARD, max_size=30).map("".join)


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


# --- round trips --------------------------------------------------------------------


@settings(max_examples=500)
@given(ANY_TEXT)
def test_round_trip_of_any_text(text):
    """decode(encode(text)) is the text in NFC, whatever it holds; nothing is unknown."""
    ids = UNIGRAM.encode(text)
    assert UNIGRAM.decode(ids) == nfc(text)
    assert UNIGRAM.unknown_tokens(text) == Counter()
    assert not np.any(ids == UNIGRAM.unk_id)


@settings(max_examples=200)
@given(ANY_TEXT)
def test_round_trip_with_either_algorithm(tok, text):
    assert tok.decode(tok.encode(text)) == nfc(text)


@settings(max_examples=300)
@given(ANY_TEXT)
def test_each_piece_writes_characters_that_add_up_to_the_text(text):
    """encode_text: the characters (bytes) of the pieces add up to the NFC text's; a
    character written as bytes counts once, at the byte that completes it."""
    encoded = UNIGRAM.encode_text(text)
    assert np.array_equal(encoded.ids, UNIGRAM.encode(text))
    assert encoded.chars.sum() == len(nfc(text))
    assert encoded.bytes.sum() == len(nfc(text).encode("utf-8"))
    assert encoded.unknown == 0
    # Piece by piece: the characters up to each piece are those decoded up to it, once
    # the bytes of a character are all there.
    ends = np.cumsum(encoded.chars)
    for k in range(len(encoded.ids)):
        decoded = UNIGRAM.decode(encoded.ids[: k + 1])
        assert ends[k] == len(decoded.rstrip("\ufffd")) or "\ufffd" in nfc(text)


@settings(max_examples=300)
@given(ANY_TEXT)
def test_sentencepiece_alone_reads_the_same_ids(text):
    """The rule the ONNX export gives: sentencepiece's own encode of the whole text, with
    each ▁ of the text written as its three byte pieces, and its own decode."""
    sp = spm.SentencePieceProcessor(model_proto=UNIGRAM.files()["model"])
    text = nfc(text)
    escape = [sp.piece_to_id(f"<0x{b:02X}>") for b in METASPACE.encode("utf-8")]
    ids: list[int] = []
    for i, part in enumerate(text.split(METASPACE)):
        ids += escape if i else []
        ids += sp.encode(part)
    assert UNIGRAM.encode(text).tolist() == ids
    assert sp.decode(ids) == text


def test_sentencepiece_alone_reads_a_metaspace_as_a_space():
    """Why elman escapes ▁: sentencepiece's own encode and decode turn it into a space."""
    sp = spm.SentencePieceProcessor(model_proto=UNIGRAM.files()["model"])
    assert sp.decode(sp.encode(f"a{METASPACE}b")) == "a b"
    assert UNIGRAM.decode(UNIGRAM.encode(f"a{METASPACE}b")) == f"a{METASPACE}b"


def test_whitespace_is_kept_as_it_is():
    """No dummy prefix, no collapsed or stripped spaces: leading, trailing and doubled
    spaces, tabs and empty lines come back."""
    text = "  영화  정말\t\n\n ㅋㅋ \n"
    assert UNIGRAM.decode(UNIGRAM.encode(text)) == text
    assert UNIGRAM.tokenize(" a")[0] == METASPACE


# --- the vocabulary -----------------------------------------------------------------


def test_vocabulary_layout(tok):
    """<unk> at 0, the line end at 1 (the end-of-line token), then the 256 bytes, then
    the learned pieces; exactly vocab_size of them."""
    assert len(tok) == 330 and tok.level == "subword"
    assert tok.tokens[:3] == [UNK, "\n", "<0x00>"] and tok.tokens[BYTES + 1] == "<0xFF>"
    assert (tok.unk_id, tok.eos_id) == (0, 1)
    assert tok.encode("a\nb\n").tolist().count(tok.eos_id) == 2
    assert tok.encode_line("영화").tolist()[-1] == tok.eos_id
    assert tok.encode_unfinished("영화").tolist()[-1] != tok.eos_id


def test_rare_characters_fall_back_to_bytes():
    """A character the pieces lack is its UTF-8 bytes, 4 pieces for 😀."""
    ids = UNIGRAM.encode("😀")
    assert [UNIGRAM.tokens[i] for i in ids] == ["<0xF0>", "<0x9F>", "<0x98>", "<0x80>"]
    assert UNIGRAM.encode_text("😀").chars.tolist() == [0, 0, 0, 1]


def test_same_text_and_settings_give_a_byte_identical_model():
    for algorithm in ("unigram", "bpe"):
        first = SubwordTokenizer.fit(TEXT, algorithm, 320)
        second = SubwordTokenizer.fit(TEXT, algorithm, 320)
        assert first.files()["model"] == second.files()["model"]


def test_another_process_learns_the_same_model():
    """What a data-parallel run relies on: each process learns its own, all alike."""
    code = (
        "import hashlib, sys; from elman.data.tokenizers import SubwordTokenizer; "
        "text = sys.stdin.read(); "
        "print(hashlib.sha256(SubwordTokenizer.fit(text, vocab_size=330).model).hexdigest())"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        input=TEXT,
        capture_output=True,
        encoding="utf-8",
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
        check=True,
    )
    assert result.stdout.strip() == hashlib.sha256(UNIGRAM.model).hexdigest()


def test_the_default_is_16000_unigram_pieces_or_all_the_text_can_give(monkeypatch):
    """No size asked: DEFAULT_PIECES if the text can give them (here made 330), else every
    piece it can (345 of this text); a size asked is exact (the test below)."""
    assert UNIGRAM.algorithm == "unigram" and tokenizers.DEFAULT_PIECES == 16_000
    assert len(make_tokenizer("subword", TEXT)) == 345
    monkeypatch.setattr(tokenizers, "DEFAULT_PIECES", 330)
    assert make_tokenizer("subword", TEXT).tokens == UNIGRAM.tokens


@pytest.mark.parametrize(
    ("size", "message"),
    [
        (100, r"--vocab-size 100 is too small for the training text: its 45 most frequent "
         r"characters need a piece each .* that makes 303; use --vocab-size 303 or more\."),
        (5000, r"--vocab-size 5,000 is more than the training text can give \(at most "
         r"\d+ pieces\); use --vocab-size \d+ or less"),
    ],
)  # fmt: skip
def test_a_size_the_text_cannot_give_is_refused_with_the_numbers(size, message):
    with pytest.raises(ElmanError, match=message):
        SubwordTokenizer.fit(TEXT, vocab_size=size)


@pytest.mark.parametrize("text", ["", "\n\n", METASPACE])
def test_a_text_without_characters_is_refused(text):
    with pytest.raises(ElmanError, match="no pieces to build a vocabulary from"):
        SubwordTokenizer.fit(text)


def test_a_long_line_is_learned_from(tmp_path):
    """Sentencepiece leaves out sentences over 4,192 bytes unless told otherwise."""
    line = "".join(chr(0xAC00 + i) for i in range(3000))  # 9,000 bytes, 3,000 characters
    tok = SubwordTokenizer.fit(line + "\n", vocab_size=3257)
    assert sum(t in line for t in tok.tokens) == 3000 - 1  # all but the rarest 0.05%


# --- the text a token at a time -----------------------------------------------------


def streamed(tokenizer, ids) -> list[str]:
    stream = tokenizer.text_stream(tokenizer.eos_id)
    pieces = [stream.add(int(i)) for i in ids]
    return [*pieces, stream.end()]


@settings(max_examples=300)
@given(ANY_TEXT)
def test_streamed_text_never_shows_part_of_a_character(text):
    """Shown a token at a time, the text is the whole text, and a character written as
    bytes appears whole, when its last byte comes, never as U+FFFD."""
    ids = UNIGRAM.encode(text)
    pieces = streamed(UNIGRAM, ids)
    assert "".join(pieces) == nfc(text)
    if "\ufffd" not in text:
        assert not any("\ufffd" in piece for piece in pieces)
    for k in range(len(ids)):
        written = UNIGRAM.decode(ids[: k + 1])
        assert "".join(pieces[: k + 1]) == written.rstrip("\ufffd") or "\ufffd" in text


@settings(max_examples=300)
@given(st.lists(st.integers(0, 329) | st.integers(2, BYTES + 1), max_size=40))
def test_streamed_text_of_any_ids_is_their_decoding(ids):
    """Even bytes that make no character (sampled ones) come out as decode writes them."""
    assert "".join(streamed(UNIGRAM, ids)) == UNIGRAM.decode(ids)


def test_streamed_bytes_wait_for_their_character():
    ids = UNIGRAM.encode("😀a")
    assert streamed(UNIGRAM, ids) == ["", "", "", "😀", "a", ""]
    cut = ids[:2]  # generation stopped inside a character: decode's U+FFFD at the end
    assert streamed(UNIGRAM, cut) == ["", "", UNIGRAM.decode(cut)]


@settings(max_examples=300)
@given(ANY_TEXT)
def test_pieces_shown_merge_bytes_into_whole_characters(text):
    """Shown one by one (the playground's Score and Look inside), the pieces of a text
    stand for all its tokens, in order, write the whole text, and a character written as
    bytes is one piece, never part of one."""
    tokens = UNIGRAM.tokenize(text)
    shown = UNIGRAM.shown(tokens)
    assert sum(n for _, n in shown) == len(tokens) and all(n >= 1 for _, n in shown)
    assert "".join(t for t, _ in shown) == nfc(text)
    if "\ufffd" not in text:
        assert not any("\ufffd" in t for t, _ in shown)


def test_a_character_of_bytes_is_one_piece_shown():
    tokens = UNIGRAM.tokenize("뷁 😀")
    assert tokens == ["<0xEB>", "<0xB7>", "<0x81>", "▁", "<0xF0>", "<0x9F>", "<0x98>", "<0x80>"]
    assert UNIGRAM.shown(tokens) == [("뷁", 3), (" ", 1), ("😀", 4)]
    char = CharTokenizer.fit("ab\n")
    assert char.shown(char.tokenize("a한\n")) == [("a", 1), ("한", 1), ("\n", 1)]
    word = WordTokenizer.fit("the cat\n")
    assert word.shown(word.tokenize("the dog\n")) == [("the ", 1), ("dog ", 1), ("\n", 1)]


@settings(max_examples=200)
@given(st.text(st.sampled_from(["a", "b", " ", "\n", "é", "한"]), min_size=2))
def test_char_and_word_streams_write_what_decode_writes(text):
    for tokenizer in (CharTokenizer.fit(text), WordTokenizer.fit(text + " x")):
        ids = tokenizer.encode(text)
        stream = tokenizer.text_stream(tokenizer.eos_id or 0)
        shown = "".join(stream.add(int(i)) for i in ids) + stream.end()
        assert shown == tokenizer.decode(ids)


# --- characters and bytes of char and word tokens -----------------------------------


@settings(max_examples=200)
@given(st.text())
def test_characters_of_a_char_text(text):
    encoded = CharTokenizer.fit("ab\n").encode_text(text)
    assert encoded.chars.tolist() == [1] * len(nfc(text))
    assert encoded.bytes.tolist() == [len(c.encode("utf-8")) for c in nfc(text)]
    assert encoded.unknown == sum(c not in "ab\n" for c in nfc(text))


def test_characters_of_a_word_text_are_those_it_writes_back():
    """A word writes itself and the space before it (none at a line's start), <eos> the
    line end; an unknown word counts the characters it stands for; extra whitespace the
    model cannot write is not counted."""
    tok = WordTokenizer.fit("the cat\n")
    encoded = tok.encode_text("  the   dog cat\nthe")
    assert [tok.tokens[i] for i in encoded.ids] == ["the", UNK, "cat", "<eos>", "the", "<eos>"]
    assert encoded.chars.tolist() == [3, 4, 4, 1, 3, 1]
    assert encoded.unknown == 1
    assert sum(tok.encode_text("the cat\n").chars) == len(tok.decode(tok.encode("the cat\n")))
    assert tok.encode_text("한국 어\n").bytes.tolist() == [6, 4, 1]


# --- the vocabulary file and its model ------------------------------------------------


def test_vocabulary_file_and_model_beside_it_round_trip(tmp_path):
    """vocab.json holds the tokens and the model's sha256; the model is vocab.model."""
    path = tmp_path / "vocab.json"
    save_vocab(UNIGRAM, path)
    (tmp_path / extra_file("vocab.json", "model")).write_bytes(UNIGRAM.files()["model"])
    loaded = load_vocab(path)
    assert loaded == UNIGRAM and loaded.encode(TEXT).tolist() == UNIGRAM.encode(TEXT).tolist()
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["sha256"] == hashlib.sha256(UNIGRAM.model).hexdigest()
    assert sorted(data) == ["algorithm", "level", "normalize", "sha256", "tokens"]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda data, model: (data, model[:-1] + b"x"), "does not match the sha256 recorded"),
        (lambda data, model: ({**data, "tokens": data["tokens"][:-1]}, model), "not the pieces"),
        (lambda data, model: ({**data, "extra": 1}, model), "unexpected keys"),
        (lambda data, model: ({**data, "algorithm": "wordpiece"}, model), "algorithm"),
        (
            lambda data, model: ({**data, "sha256": hashlib.sha256(b"junk").hexdigest()}, b"junk"),
            "sentencepiece cannot read its model",
        ),
    ],
)
def test_a_damaged_vocabulary_or_model_is_refused(change, problem):
    data, model = change(UNIGRAM.to_json(), UNIGRAM.files()["model"])
    with pytest.raises(ElmanError, match=f"run/vocab.json is not a valid vocabulary.*{problem}"):
        tokenizer_from_json(data, "run/vocab.json", lambda name: model)


def test_a_missing_model_file_is_named(tmp_path):
    save_vocab(UNIGRAM, tmp_path / "vocab.json")
    with pytest.raises(ElmanError, match=r"vocab\.model, which the vocabulary .* needs"):
        load_vocab(tmp_path / "vocab.json")
