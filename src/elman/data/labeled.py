"""Labelled texts for classification: reading them, and a seeded, stratified split.

Three layouts, told apart by the path (never by guessing from the contents):

    a directory         one subfolder per label, one UTF-8 text file per example
                        (spam/0001.txt, ham/0002.txt, ...; hidden files are skipped)
    a file *.csv        two fields per record, label,text (quoted as CSV quotes them);
                        a first record reading exactly label,text is a header
    any other file      one example per line, label<TAB>text, the UCI SMS Spam
                        Collection's format; the label ends at the first tab

Blank lines are skipped; the label and the text are stripped of surrounding
whitespace, and an example whose label or text is then empty is refused, naming
the file and line. A label is read in Unicode NFC, as text is (``elman.data.tokenizers``):
the same word typed composed or decomposed (NFD Korean, as macOS writes file and folder
names) is one label, wherever it comes from (a file, a folder, ``--label``).
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from elman.data.text import read_text
from elman.errors import ElmanError


@dataclass(frozen=True)
class Example:
    """One labelled text and where it came from, for messages."""

    label: str
    text: str
    where: str  # "FILE line N", or the file's path in a folder-per-label dataset


def read_labeled(path: str | os.PathLike[str]) -> list[Example]:
    """The examples of a labelled dataset in any of the three layouts (see module doc)."""
    name = os.fspath(path)
    if os.path.isdir(name):
        return _read_folder(Path(name))
    text = read_text(name)
    if name.lower().endswith(".csv"):
        return _read_csv(text, name)
    return _read_tsv(text, name)


def normalize_label(label: str) -> str:
    """A label as elman reads it: stripped of surrounding whitespace, in Unicode NFC."""
    return unicodedata.normalize("NFC", label.strip())


def label_index(labels: Sequence[str], label: str) -> int | None:
    """The index of ``label`` among a model's ``labels``, both read by ``normalize_label``
    (a checkpoint written before labels were normalised may hold them decomposed); None
    when it is not one of them."""
    wanted = normalize_label(label)
    return next((k for k, known in enumerate(labels) if normalize_label(known) == wanted), None)


def label_ids(examples: Sequence[Example], labels: Sequence[str]) -> np.ndarray:
    """The index of each example's label among a model's ``labels``; a label outside them
    is refused, naming where it is."""
    ids = []
    for example in examples:
        k = label_index(labels, example.label)
        if k is None:
            raise ElmanError(
                f"{example.where} has label {example.label!r}, which the model does not know "
                f"(it was trained on {', '.join(labels)}); fix the label or retrain."
            )
        ids.append(k)
    return np.array(ids, dtype=np.int64)


def _example(label: str, text: str, where: str) -> Example:
    label, text = normalize_label(label), text.strip()
    if not label:
        raise ElmanError(f"{where} has an empty label; every example needs label and text.")
    if not text:
        raise ElmanError(
            f"{where} has label {label!r} but an empty text; remove the line or give its text."
        )
    return Example(label, text, where)


def _nonempty(examples: list[Example], name: str) -> list[Example]:
    if not examples:
        raise ElmanError(f"{name} holds no examples; give labelled texts, one per line.")
    return examples


def _read_tsv(text: str, name: str) -> list[Example]:
    examples = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        label, tab, body = line.partition("\t")
        if not tab:
            shown = line if len(line) <= 40 else line[:40] + "..."
            raise ElmanError(
                f"{name} line {number} has no tab between label and text ({shown!r}); "
                "write each example as label<TAB>text, or name a CSV file *.csv."
            )
        examples.append(_example(label, body, f"{name} line {number}"))
    return _nonempty(examples, name)


def _read_csv(text: str, name: str) -> list[Example]:
    examples = []
    reader = csv.reader(io.StringIO(text))
    try:
        for row in reader:
            if not row or all(not cell.strip() for cell in row):
                continue
            where = f"{name} line {reader.line_num}"
            if len(row) != 2:
                raise ElmanError(
                    f"{where} has {len(row)} fields, expected 2 (label,text); put texts with "
                    'commas in double quotes, as in "Hello, world".'
                )
            if not examples and [cell.strip().lower() for cell in row] == ["label", "text"]:
                continue  # the header
            examples.append(_example(row[0], row[1], where))
    except csv.Error as e:
        raise ElmanError(
            f"{name} line {reader.line_num} is not valid CSV ({e}); check its quotes."
        ) from None
    return _nonempty(examples, name)


def _read_folder(directory: Path) -> list[Example]:
    folders = sorted(p for p in directory.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise ElmanError(
            f"{directory} has no subfolders; a folder dataset holds one subfolder per label, "
            "each with one text file per example."
        )
    examples = []
    for folder in folders:
        files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
        if not files:
            raise ElmanError(
                f"{folder} holds no files; put one text file per example in each label's "
                "folder, or remove the folder."
            )
        examples += [_example(folder.name, read_text(p), str(p)) for p in files]
    return examples


def stratified_split(
    labels: Sequence[str], valid: float, test: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices (train, valid, test), each sorted, with every label in the same
    proportions in each part.

    The examples of each label (labels in sorted order) are shuffled with
    ``numpy.random.default_rng(seed)``; the first round(n * test) go to test, the
    next round(n * valid) to validation, the rest to training, keeping at least one
    of each label for training. The same labels and seed always give the same split.
    """
    if not (0 <= valid < 1 and 0 <= test < 1 and valid + test < 1):
        raise ElmanError(
            f"the validation and test fractions must be at least 0 and add up to less than 1, "
            f"got {valid} and {test}."
        )
    labels = np.asarray(labels, dtype=object)
    rng = np.random.default_rng(seed)
    parts: tuple[list[np.ndarray], ...] = ([], [], [])
    for label in sorted(set(labels.tolist())):
        index = rng.permutation(np.flatnonzero(labels == label))
        n = len(index)
        n_test = min(int(n * test + 0.5), n - 1)
        n_valid = min(int(n * valid + 0.5), n - 1 - n_test)
        parts[2].append(index[:n_test])
        parts[1].append(index[n_test : n_test + n_valid])
        parts[0].append(index[n_test + n_valid :])
    train, valid_index, test_index = (
        np.sort(np.concatenate(p)).astype(np.int64) if p else np.zeros(0, np.int64) for p in parts
    )
    return train, valid_index, test_index


def fingerprint(examples: Sequence[Example]) -> str:
    """A short hash of the labels and texts, to recognise the same dataset later."""
    digest = hashlib.sha256()
    for example in examples:
        digest.update(f"{example.label}\t{example.text}\n".encode())
    return digest.hexdigest()[:16]
