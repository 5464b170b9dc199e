"""Prepared corpora (elman.data.prepared): a text read a piece at a time is the text
``read_text`` reads, its vocabulary and ids are the in-memory path's, in one process or
several, and a corpus whose files changed is refused."""

import json
import unicodedata

import numpy as np
import pytest

from elman import runs
from elman.config import TokenizerConfig
from elman.data import prepared
from elman.data.prepared import (
    count_tokens,
    open_corpus,
    scan,
    workers_for,
    write_corpus,
)
from elman.data.text import read_text, split_text
from elman.data.tokenizers import CharTokenizer, WordTokenizer
from elman.errors import ElmanError
from elman.prepare import Vocabulary, fitted

# Every ending a text file may have, characters of 1 to 4 UTF-8 bytes, and lines of
# several lengths: a piece boundary falls everywhere with small pieces.
LINES = [
    "the quick brown fox\n",
    "안녕하세요, 세계!\r\n",
    "e\u0301 composed by NFC\r",
    "emoji 🦊 and 𝄞\n",
    "\n",
    "last line without an end",
]
TEXT = "".join(LINES * 7)


@pytest.fixture
def small_pieces(monkeypatch):
    """Pieces of 16 bytes, so that a short text has many (each ends at a line end)."""
    monkeypatch.setattr(prepared, "CHUNK_BYTES", 16)
    monkeypatch.setattr(prepared, "PARALLEL_BYTES", 0)


def write(path, text, bom=False):
    path.write_bytes(("\ufeff" if bom else "").encode() + text.encode("utf-8"))
    return path


@pytest.mark.parametrize("bom", [False, True])
def test_a_text_read_in_pieces_is_the_text_read_whole(tmp_path, small_pieces, bom):
    path = write(tmp_path / "t.txt", TEXT, bom)
    source = scan([path])
    assert len(source.files[0].pieces) > 10
    assert "".join(source) == read_text(path)
    assert source.chars == len(read_text(path))
    assert source.sha256 == runs.text_digest(read_text(path))
    assert all(p.stop - p.start <= 64 for p in source.files[0].pieces)


def test_files_one_after_another_each_end_with_a_line_end(tmp_path, small_pieces):
    a = write(tmp_path / "a.txt", "first file, no line end")
    b = write(tmp_path / "b.txt", "second\r\nfile")
    assert "".join(scan([a, b])) == "first file, no line end\nsecond\nfile"


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9])
def test_a_split_source_is_split_text(tmp_path, small_pieces, fraction):
    path = write(tmp_path / "t.txt", TEXT)
    first, rest = scan([path]).split(fraction)
    assert ("".join(first), "".join(rest)) == split_text(read_text(path), fraction)


@pytest.mark.parametrize("level", ["char", "word"])
@pytest.mark.parametrize("workers", [1, 2])
def test_counting_in_pieces_and_processes_gives_fits_vocabulary(
    tmp_path, small_pieces, level, workers
):
    path = write(tmp_path / "t.txt", TEXT + "a b c 🦊 zz\n" + TEXT[::-1])
    config = TokenizerConfig(level=level)
    expected = config.fit(read_text(path))
    assert fitted(config, scan([path]), workers=workers).tokens == expected.tokens
    cls = type(expected)
    counts = count_tokens(scan([path]), cls, workers=workers)
    assert list(counts.items()) == list(cls.count(read_text(path)).items())


@pytest.mark.parametrize("level", ["char", "word"])
@pytest.mark.parametrize("workers", [1, 2])
def test_a_prepared_corpus_holds_the_ids_and_counts_of_the_text(
    tmp_path, small_pieces, level, workers
):
    train = write(tmp_path / "train.txt", TEXT)
    valid = write(tmp_path / "valid.txt", "the fox 🦊 and an unseen ß\n")
    sources = {"train": scan([train]), "valid": scan([valid])}
    tokenizer = Vocabulary(TokenizerConfig(level=level)).make(sources["train"])
    corpus = write_corpus(tmp_path / "c", tokenizer, sources, workers=workers)
    assert open_corpus(tmp_path / "c").tokenizer == tokenizer
    for role, path in (("train", train), ("valid", valid)):
        part = corpus.parts[role]
        encoded = tokenizer.encode_text(read_text(path))
        assert part.dtype == np.dtype("<u2")
        assert np.array_equal(part.ids(), encoded.ids)
        assert part.counts == encoded.counts()
    assert corpus.parts["valid"].counts.unknown == (1 if level == "char" else 2)
    header = json.loads((tmp_path / "c" / "corpus.json").read_text())
    nfc = unicodedata.normalize("NFC", read_text(train))  # what bits per character count
    # (a word model's last <eos> writes the line end the text lacks)
    assert header["parts"]["train"]["chars"] == len(nfc) + (level == "word")
    assert header["parts"]["train"]["bytes"] == len(nfc.encode("utf-8")) + (level == "word")
    assert len(nfc) < len(read_text(train))
    assert header["sources"]["train"]["sha256"] == runs.text_digest(read_text(train))


def test_ids_beyond_uint16_are_uint32(tmp_path):
    words = " ".join(f"w{i}" for i in range(70_000)) + "\n"
    path = write(tmp_path / "t.txt", words)
    sources = {"train": scan([path])}
    tokenizer = Vocabulary(TokenizerConfig(level="word")).make(sources["train"])
    assert len(tokenizer) > 1 << 16
    corpus = write_corpus(tmp_path / "c", tokenizer, sources)
    assert corpus.parts["train"].dtype == np.dtype("<u4")
    assert (tmp_path / "c" / "train.bin").stat().st_size == 4 * (70_000 + 1)
    assert np.array_equal(corpus.parts["train"].ids(), tokenizer.encode(words))


@pytest.fixture
def corpus(tmp_path):
    path = write(tmp_path / "t.txt", TEXT)
    sources = {"train": scan([path])}
    write_corpus(tmp_path / "c", CharTokenizer.fit(TEXT), sources)
    return tmp_path / "c"


def test_a_changed_part_is_refused_by_its_sha256(corpus):
    data = bytearray((corpus / "train.bin").read_bytes())
    data[10] ^= 1
    (corpus / "train.bin").write_bytes(bytes(data))
    with pytest.raises(ElmanError, match="sha256 differs.*prepare the corpus again"):
        open_corpus(corpus)


def test_a_truncated_part_is_refused_by_its_size(corpus):
    data = (corpus / "train.bin").read_bytes()
    (corpus / "train.bin").write_bytes(data[:-2])
    with pytest.raises(ElmanError, match="truncated or changed"):
        open_corpus(corpus)


def test_a_changed_vocabulary_or_header_is_refused(corpus):
    (corpus / "vocab.json").write_text((corpus / "vocab.json").read_text() + " ")
    with pytest.raises(ElmanError, match="damaged.*vocab.json does not match"):
        open_corpus(corpus)
    (corpus / "corpus.json").write_text("{not json")
    with pytest.raises(ElmanError, match="damaged"):
        open_corpus(corpus)


def test_ids_of_another_vocabulary_are_refused(corpus):
    other = CharTokenizer.fit(TEXT + "ÿ")
    with pytest.raises(ElmanError, match="another vocabulary.*elman prepare --vocab"):
        open_corpus(corpus).check_vocabulary(other, corpus / "train.bin")


def test_an_occupied_out_is_refused_and_a_failed_write_leaves_what_was_there(
    corpus, tmp_path, monkeypatch
):
    path = write(tmp_path / "u.txt", "other text\n")
    sources = {"train": scan([path])}
    tokenizer = CharTokenizer.fit("other text\n")
    with pytest.raises(ElmanError, match="already holds a prepared corpus.*--overwrite"):
        write_corpus(corpus, tokenizer, sources)
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "keep.txt").write_text("x")
    with pytest.raises(ElmanError, match="holds files and no prepared corpus"):
        write_corpus(tmp_path / "files", tokenizer, sources, overwrite=True)
    before = {p.name: p.read_bytes() for p in corpus.iterdir()}
    monkeypatch.setattr(
        prepared, "_write_json", lambda *a: (_ for _ in ()).throw(OSError(28, "full"))
    )
    with pytest.raises(OSError):
        write_corpus(corpus, tokenizer, sources, overwrite=True)
    assert {p.name: p.read_bytes() for p in corpus.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c", "files", "t.txt", "u.txt"]


@pytest.mark.parametrize(
    "content, problem",
    [
        (b"", "is empty"),
        (b"text\x00more\n", "looks binary.*byte offset 4"),
        (b"good line\n\xff\xfe bad\n", "not valid UTF-8.*0xff at byte offset 10"),
        (b"  \n\t\n", "only whitespace"),
    ],
)
def test_bad_text_is_refused_in_a_sentence(tmp_path, small_pieces, content, problem):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(ElmanError, match=problem):
        sources = {"train": scan([path])}
        write_corpus(tmp_path / "c", CharTokenizer.fit("text"), sources)
    assert not (tmp_path / "c").exists()


def test_workers_are_used_where_they_pay(tmp_path, monkeypatch):
    path = write(tmp_path / "t.txt", TEXT)
    source = scan([path])
    assert workers_for(source, WordTokenizer) == 1  # a short text: this process
    monkeypatch.setattr(prepared, "PARALLEL_BYTES", 0)
    monkeypatch.setattr(prepared, "available_cores", lambda: 2)
    assert workers_for(source, WordTokenizer) == 2
    assert workers_for(source, CharTokenizer) == 1  # NumPy is fast enough in one
    assert workers_for(source, CharTokenizer, 3) == 3
    with pytest.raises(ElmanError, match="--workers must be 0"):
        workers_for(source, WordTokenizer, -1)
