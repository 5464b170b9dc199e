"""Tagged sentences for taggers: CoNLL-U treebanks and two-column token<TAB>tag files.

The format comes from the file name, never from guessing at the contents:

    *.conllu     Universal Dependencies CoNLL-U (https://universaldependencies.org/format.html):
                 10 tab-separated columns ID FORM LEMMA UPOS XPOS FEATS HEAD DEPREL DEPS
                 MISC per word, lines starting with # are comments, a blank line ends a
                 sentence. Lines whose ID is a range (3-4, a multi-word token) or has
                 a dot (8.1, an empty node) are not words to tag and are skipped.
    other files  token<TAB>tag per line, a blank line between sentences (CoNLL-2003 style
                 without the extra columns).

The words are FORM, the tags UPOS or XPOS (``column``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from elman.data.text import read_text
from elman.errors import ElmanError

TAG_COLUMNS = {"upos": 3, "xpos": 4}  # column index in a CoNLL-U word line
CONLLU_COLUMNS = 10


@dataclass(frozen=True)
class Sentence:
    """The words of one sentence and their tags (empty when the tags are not known), and
    the sentence as written when the file says (CoNLL-U's ``# text =``)."""

    words: list[str]
    tags: list[str]
    line: int  # where the sentence starts in its file, for messages
    text: str = ""


def is_conllu(path: str | os.PathLike[str]) -> bool:
    return os.fspath(path).lower().endswith(".conllu")


def read_tagged(path: str | os.PathLike[str], column: str = "upos") -> list[Sentence]:
    """The sentences of a CoNLL-U (*.conllu) or two-column file, tagged with ``column``
    ("upos" or "xpos"; two-column files have only one tag)."""
    if column not in TAG_COLUMNS:
        raise ElmanError(f"the tag column must be upos or xpos, got {column!r}.")
    name = os.fspath(path)
    text = read_text(name)
    sentences = _read_conllu(text, name, column) if is_conllu(name) else _read_columns(text, name)
    if not sentences:
        raise ElmanError(f"{name} holds no sentences; give a file with tagged words.")
    return sentences


def _blocks(text: str):
    """(first line number, [(line number, line), ...]) per blank-line-separated block."""
    block: list[tuple[int, str]] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            block.append((number, line))
        elif block:
            yield block[0][0], block
            block = []
    if block:
        yield block[0][0], block


def _read_conllu(text: str, name: str, column: str) -> list[Sentence]:
    index = TAG_COLUMNS[column]
    sentences = []
    for start, block in _blocks(text):
        words, tags, written = [], [], ""
        for number, line in block:
            if line.startswith("#"):
                if line.startswith("# text = "):
                    written = line[len("# text = ") :].strip()
                continue
            cells = line.split("\t")
            if len(cells) != CONLLU_COLUMNS:
                raise ElmanError(
                    f"{name} line {number} has {len(cells)} tab-separated columns, expected "
                    f"{CONLLU_COLUMNS} (ID FORM LEMMA UPOS XPOS FEATS HEAD DEPREL DEPS MISC); "
                    "a file not in CoNLL-U should not be named *.conllu."
                )
            if "-" in cells[0] or "." in cells[0]:
                continue  # a multi-word token or an empty node: not a word to tag
            form, tag = cells[1].strip(), cells[index].strip()
            if not form:
                raise ElmanError(f"{name} line {number} has an empty FORM column.")
            if not tag or tag == "_":
                hint = ", and this treebank may have none: use --tag-column upos"
                hint = hint if column == "xpos" else ""
                raise ElmanError(
                    f"{name} line {number} has no {column.upper()} tag ({cells[index]!r}){hint}."
                )
            words.append(form)
            tags.append(tag)
        if words:
            sentences.append(Sentence(words, tags, start, written))
    return sentences


def _read_columns(text: str, name: str) -> list[Sentence]:
    sentences = []
    for start, block in _blocks(text):
        words, tags = [], []
        for number, line in block:
            cells = line.split("\t")
            if len(cells) != 2 or not cells[0].strip() or not cells[1].strip():
                shown = line if len(line) <= 40 else line[:40] + "..."
                raise ElmanError(
                    f"{name} line {number} is not token<TAB>tag ({shown!r}); write one token "
                    "and its tag per line separated by a tab (CoNLL-U files must be named "
                    "*.conllu)."
                )
            words.append(cells[0].strip())
            tags.append(cells[1].strip())
        sentences.append(Sentence(words, tags, start))
    return sentences
