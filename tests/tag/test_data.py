"""How a sentence to tag is split into words (``tag.data.split_words``): at whitespace, or
as a treebank writes words, with the punctuation at a word's ends and clitics apart unless
the tagger's vocabulary holds the form whole."""

from __future__ import annotations

import pytest

from elman.data.tokenizers import EOS, UNK, WordTokenizer
from elman.tag.data import split_words

VOCABULARY = WordTokenizer(
    [UNK, EOS, "go", "home", "do", "n't", "'s", "u.s.", "...", "e-mail", ":)", ",", "!"],
    normalize="NFC",
)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Go home, don't wait!", ["Go", "home", ",", "do", "n't", "wait", "!"]),
        ("John's e-mail :) ...", ["John", "'s", "e-mail", ":)", "..."]),
        ("the U.S. at 5pm,", ["the", "U.S.", "at", "5pm", ","]),  # held whole, lower-cased
        ("(hello)...", ["(", "hello", ")", "..."]),  # the longest run the vocabulary holds
        ('"go?"', ['"', "go", "?", '"']),
        ("나는 학생이다.", ["나는", "학생이다", "."]),
        ("$5", ["$", "5"]),
        ("rock'n'roll", ["rock'n'roll"]),  # inner marks stay
        ("  ", []),
    ],
)
def test_punctuation_is_split_as_a_treebank_writes_it(text, words):
    assert split_words(text, VOCABULARY, lowercase=True, how="punctuation") == words


def test_case_counts_when_the_tagger_does_not_lowercase():
    assert split_words("U.S.", VOCABULARY, lowercase=False, how="punctuation") == ["U.S", "."]


def test_whitespace_leaves_words_as_they_are():
    assert split_words("go? don't", VOCABULARY, True, "whitespace") == ["go?", "don't"]
