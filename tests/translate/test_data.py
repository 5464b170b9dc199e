"""Pairs from files (two aligned files, TSV, the book's question_answer lines) and every
way they can be wrong; the seeded split; vocabularies with the special tokens in one
place; token ids, reversal and the source cap; batches and their masks."""

from __future__ import annotations

import numpy as np
import pytest

from elman.errors import ElmanError
from elman.translate import data as tdata
from elman.translate.data import (
    Pair,
    build_vocabularies,
    encode,
    make_batches,
    read_aligned,
    read_data,
    source_ids,
    split,
)


def write(directory, name, text):
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_aligned_files_give_stripped_pairs_with_their_line(tmp_path):
    source = write(tmp_path, "de.txt", "ein hund .\n zwei katzen \n")
    target = write(tmp_path, "en.txt", "a dog .\ntwo cats\n")
    pairs = read_aligned(source, target)
    assert [(p.source, p.target) for p in pairs] == [
        ("ein hund .", "a dog ."),
        ("zwei katzen", "two cats"),
    ]
    assert pairs[1].where.endswith("en.txt line 2")


def test_the_books_question_answer_lines(tmp_path):
    data = write(
        tmp_path, "addition.txt", "16+75  _91  \n52+607 _659 \nseptember 27, 1994   _1994-09-27\n"
    )
    pairs = read_data(data, "qa")
    assert [(p.source, p.target) for p in pairs] == [
        ("16+75", "91"), ("52+607", "659"), ("september 27, 1994", "1994-09-27"),
    ]  # fmt: skip


def test_tsv_lines(tmp_path):
    pairs = read_data(write(tmp_path, "d.tsv", "hallo welt\thello world\nja\tyes\n"), "tsv")
    assert [(p.source, p.target) for p in pairs] == [("hallo welt", "hello world"), ("ja", "yes")]


@pytest.mark.parametrize(
    ("files", "format", "message"),
    [
        (
            {"s": "a\nb\nc\n", "t": "x\ny\n"},
            None,
            r"s has 3 lines but .*t has 2, so they are not line-aligned",
        ),
        (
            {"s": "a\n\nc\n", "t": "x\ny\nz\n"},
            None,
            r"s line 2 is empty; every line needs a sentence on both sides",
        ),
        ({"s": "a\nb\n", "t": "x\n  \n"}, None, r"t line 2 is empty"),
        (
            {"d": "a\tx\nb y\n"},
            "tsv",
            r"d line 2 has no tab, but a --data line holds source<TAB>target",
        ),
        ({"d": "a\tx\tz\n"}, "tsv", r"d line 1 has 2 tabs"),
        ({"d": "a\t \n"}, "tsv", r"d line 1 has an empty target"),
        ({"d": "1+1 _2\n2+2 4\n"}, "qa", r"d line 2 has no '_' between question and answer"),
        ({"d": "  _2\n"}, "qa", r"d line 1 has an empty source"),
    ],
)
def test_bad_pairs_are_refused_naming_file_and_line(tmp_path, files, format, message):
    paths = {name: write(tmp_path, name, text) for name, text in files.items()}
    with pytest.raises(ElmanError, match=message):
        if format is None:
            read_aligned(paths["s"], paths["t"])
        else:
            read_data(paths["d"], format)


def test_the_split_is_seeded_and_complete():
    pairs = [Pair(f"s{i}", f"t{i}", f"line {i}") for i in range(200)]
    train, valid, test = split(pairs, 0.05, 0.1, seed=3)
    assert (len(train), len(valid), len(test)) == (170, 10, 20)
    assert sorted(p.source for p in train + valid + test) == sorted(p.source for p in pairs)
    assert split(pairs, 0.05, 0.1, seed=3) == (train, valid, test)  # the same every run
    assert split(pairs, 0.05, 0.1, seed=4)[2] != test


def test_vocabularies_and_the_special_tokens():
    """Id 0 is <unk> on both sides; a target ends with the line end (<eos>), which is also
    the start token; a source has no end; unknown tokens are counted."""
    pairs = [Pair("ein hund", "a dog", "1"), Pair("ein hund", "the dog", "2")]
    source, target = build_vocabularies(pairs, "word")
    assert source.tokens[:2] == ["<unk>", "<eos>"] and "hund" in source
    data = encode([Pair("ein katze", "a cat", "3")], source, target, reverse_source=False)
    assert data.sources[0].tolist() == [source.id_of("ein"), 0]
    assert data.targets[0].tolist() == [target.id_of("a"), 0, target.eos_id]
    assert (data.unknown_source, data.unknown_target) == (1, 1)

    chars = build_vocabularies([Pair("16+75", "91", "1")], "char")
    assert chars[1].eos_id == chars[1].id_of("\n")
    ids = source_ids("16+75", chars[0], reverse=True)
    assert chars[0].decode(ids.tolist()) == "57+61"


def test_a_source_over_the_cap_is_refused(monkeypatch):
    source, _ = build_vocabularies([Pair("a b c", "x", "1")], "word")
    monkeypatch.setattr(tdata, "MAX_SOURCE_TOKENS", 4)
    assert len(source_ids("a b c a", source, False)) == 4
    with pytest.raises(
        ElmanError, match="in.txt line 7 has 5 words, more than the 4 a translator reads"
    ):
        source_ids("a b c a b", source, False, "in.txt line 7")


def test_batches_hold_the_decoders_inputs_and_targets_with_masks():
    pairs = [Pair("a b c", "x y", "1"), Pair("a", "y y y", "2"), Pair("b c", "x", "3")]
    source, target = build_vocabularies(pairs, "word")
    data = encode(pairs, source, target, reverse_source=False)
    batches = make_batches(data, 3, target.eos_id)
    assert len(batches) == 1
    b = batches[0]
    order = b.index.tolist()
    assert order == [1, 2, 0]  # by source length
    assert b.source_lengths.tolist() == [1, 2, 3]
    eos = target.eos_id
    for row, i in enumerate(order):
        n = len(data.targets[i])
        assert b.targets[row, :n].tolist() == data.targets[i].tolist()
        assert b.inputs[row, :n].tolist() == [eos, *data.targets[i][:-1].tolist()]
        assert b.mask[row].tolist() == [True] * n + [False] * (b.targets.shape[1] - n)
        assert not b.inputs[row, n:].any() and not b.targets[row, n:].any()


def test_training_batches_are_shuffled_with_the_generator():
    pairs = [Pair(" ".join("a" * (i % 5 + 1)), "x", str(i)) for i in range(40)]
    source, target = build_vocabularies(pairs, "word")
    data = encode(pairs, source, target, False)
    first = make_batches(data, 4, target.eos_id, np.random.default_rng(0))
    again = make_batches(data, 4, target.eos_id, np.random.default_rng(0))
    assert [b.index.tolist() for b in first] == [b.index.tolist() for b in again]
    assert sorted(i for b in first for i in b.index.tolist()) == list(range(40))
    assert all(len(set(b.source_lengths.tolist())) == 1 for b in first)  # buckets
