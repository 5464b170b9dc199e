"""Labelled texts: the three layouts, every malformed input refused with file and line,
and the stratified split (proportions, disjoint cover, determinism)."""

import unicodedata
from collections import Counter

import numpy as np
import pytest

from elman.data.labeled import (
    Example,
    fingerprint,
    label_ids,
    label_index,
    read_labeled,
    stratified_split,
)
from elman.errors import ElmanError


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_tsv_label_ends_at_the_first_tab(tmp_path):
    f = write(tmp_path / "sms.txt", "ham\tOk lar...\n\nspam\tWin\ta prize!  \n")
    examples = read_labeled(f)
    assert [(e.label, e.text) for e in examples] == [
        ("ham", "Ok lar..."),
        ("spam", "Win\ta prize!"),
    ]
    assert examples[1].where == f"{f} line 3"


def test_csv_with_header_and_quotes(tmp_path):
    f = write(tmp_path / "d.csv", 'label,text\npos,"Good, very good"\nneg,bad\n')
    assert [(e.label, e.text) for e in read_labeled(f)] == [
        ("pos", "Good, very good"),
        ("neg", "bad"),
    ]


def test_folder_per_label(tmp_path):
    for label, texts in {"pos": ["great", "fine"], "neg": ["awful"]}.items():
        (tmp_path / label).mkdir()
        for i, text in enumerate(texts):
            write(tmp_path / label / f"{i}.txt", text + "\n")
    write(tmp_path / "README", "ignored")
    examples = read_labeled(tmp_path)
    assert [(e.label, e.text) for e in examples] == [
        ("neg", "awful"),
        ("pos", "great"),
        ("pos", "fine"),
    ]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("a.tsv", "ham\thello\nspam no tab here\n", r"a\.tsv line 2 has no tab"),
        ("a.tsv", "ham\thello\nspam\t   \n", r"a\.tsv line 2 has label 'spam' but an empty text"),
        ("a.tsv", "\thello\n", r"a\.tsv line 1 has an empty label"),
        ("a.tsv", "\n\n  \n", "contains only whitespace"),
        ("a.tsv", "", "is empty"),
        ("a.csv", "pos,good,extra\n", r"a\.csv line 1 has 3 fields, expected 2"),
        ("a.csv", "label,text\n", "holds no examples"),
    ],
)
def test_malformed_files_are_refused_naming_file_and_line(tmp_path, name, text, message):
    with pytest.raises(ElmanError, match=message):
        read_labeled(write(tmp_path / name, text))


def test_folder_errors(tmp_path):
    with pytest.raises(ElmanError, match="has no subfolders"):
        read_labeled(tmp_path)
    (tmp_path / "pos").mkdir()
    with pytest.raises(ElmanError, match="holds no files"):
        read_labeled(tmp_path)
    write(tmp_path / "pos" / "1.txt", "  \n")
    with pytest.raises(ElmanError, match="only whitespace"):
        read_labeled(tmp_path)


def test_stratified_split_keeps_proportions_and_covers_everything():
    labels = ["ham"] * 80 + ["spam"] * 20
    train, valid, test = stratified_split(labels, 0.1, 0.2, seed=3)
    assert sorted(np.concatenate([train, valid, test]).tolist()) == list(range(100))
    for part, n in ((test, 20), (valid, 10), (train, 70)):
        counts = Counter(labels[i] for i in part)
        assert counts == {"ham": n * 80 // 100, "spam": n * 20 // 100}
    again = stratified_split(labels, 0.1, 0.2, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip((train, valid, test), again, strict=True))
    other = stratified_split(labels, 0.1, 0.2, seed=4)
    assert not np.array_equal(test, other[2])


def test_stratified_split_keeps_a_training_example_of_every_label():
    train, valid, test = stratified_split(["a"] * 10 + ["b"], 0.4, 0.5, seed=0)
    assert 10 in train.tolist()
    with pytest.raises(ElmanError, match="add up to less than 1"):
        stratified_split(["a", "b"], 0.5, 0.5, seed=0)


def test_fingerprint_tells_datasets_apart(tmp_path):
    a = read_labeled(write(tmp_path / "a.tsv", "ham\thi\nspam\twin\n"))
    b = read_labeled(write(tmp_path / "b.tsv", "ham\thi\nspam\twin!\n"))
    assert fingerprint(a) == fingerprint(read_labeled(tmp_path / "a.tsv"))
    assert fingerprint(a) != fingerprint(b)


def test_labels_are_read_in_nfc_from_files_folders_and_old_checkpoints(tmp_path):
    """The same Korean word composed and decomposed is one label, read as composed: in a
    file, as a folder's name, and matched against the labels of a checkpoint written
    before labels were normalised (which may hold the decomposed form)."""
    nfc, nfd = "긍정", unicodedata.normalize("NFD", "긍정")
    f = write(tmp_path / "mixed.tsv", f"{nfc}\tgood\n{nfd}\tfine\n")
    assert [e.label for e in read_labeled(f)] == [nfc, nfc]
    (tmp_path / "folders" / nfd).mkdir(parents=True)
    write(tmp_path / "folders" / nfd / "1.txt", "good")
    assert [e.label for e in read_labeled(tmp_path / "folders")] == [nfc]
    assert label_index(["부정", nfd], nfc) == 1 and label_index([nfc], nfd) == 0
    assert label_index([nfc], "부정") is None
    assert label_ids([Example(nfc, "x", "here")], ["부정", nfd]).tolist() == [1]
    with pytest.raises(ElmanError, match="here has label '부정', which the model does not know"):
        label_ids([Example("부정", "x", "here")], [nfc, "중립"])
