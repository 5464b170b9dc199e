"""elman.prepare: the size above which a run prepares a text, where the cache is, and how
elman prepare's vocabulary is made (fitted, a model's as it is, or grown)."""

from pathlib import Path

import pytest

from elman import prepare
from elman.config import TokenizerConfig
from elman.data.prepared import scan
from elman.data.tokenizers import CharTokenizer, save_vocab
from elman.errors import ElmanError


def test_the_size_and_the_cache_are_the_environments(monkeypatch, tmp_path):
    monkeypatch.delenv("ELMAN_PREPARE_ABOVE", raising=False)
    assert prepare.prepare_above() == 100_000_000
    monkeypatch.setenv("ELMAN_PREPARE_ABOVE", "0.5")
    assert prepare.prepare_above() == 500_000
    for bad in ("-1", "nan", "lots"):
        monkeypatch.setenv("ELMAN_PREPARE_ABOVE", bad)
        with pytest.raises(ElmanError, match="ELMAN_PREPARE_ABOVE must be a size"):
            prepare.prepare_above()
    monkeypatch.setenv("ELMAN_CACHE", str(tmp_path / "c"))
    assert prepare.cache_directory() == tmp_path / "c"
    monkeypatch.delenv("ELMAN_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert prepare.cache_directory() == tmp_path / "x" / "elman"


@pytest.fixture
def vocab(tmp_path) -> Path:
    path = tmp_path / "vocab.json"
    save_vocab(CharTokenizer.fit("abc\n"), path)
    return path


def test_a_given_vocabulary_is_used_as_it_is_or_grown(vocab, tmp_path):
    text = tmp_path / "t.txt"
    text.write_text("abcdd e\n", encoding="utf-8")
    source = scan([text])
    same = prepare.vocabulary_for(TokenizerConfig(), set(), vocab)
    assert same.make(source).tokens == CharTokenizer.fit("abc\n").tokens
    grown = prepare.vocabulary_for(TokenizerConfig(min_count=2), {"min_count"}, vocab, grow=True)
    assert grown.make(source).tokens == [*CharTokenizer.fit("abc\n").tokens, "d"]
    assert grown.record() == {"from": str(vocab), "grown": True}


@pytest.mark.parametrize(
    "config, given, grow, problem",
    [
        (TokenizerConfig(min_count=2), {"min_count"}, False, "--min-count says how"),
        (TokenizerConfig(level="word"), {"level"}, False, "char-level vocabulary"),
        (TokenizerConfig(), set(), None, "--grow-vocab adds tokens to the vocabulary of --vocab"),
    ],
)
def test_settings_a_given_vocabulary_makes_moot_are_refused(vocab, config, given, grow, problem):
    with pytest.raises(ElmanError, match=problem):
        if grow is None:
            prepare.vocabulary_for(config, given, None, grow=True)
        else:
            prepare.vocabulary_for(config, given, vocab, grow)
