"""Small trained models of every kind the playground serves, made once for its tests."""

from __future__ import annotations

import pytest

from elman.cli import main
from tests.cli.test_classify import sms_lines
from tests.cli.test_lm import FOX
from tests.cli.test_translate import QUESTIONS

POS = "".join(f"the\tDET\ndog\tNOUN\n{w}\tVERB\n\n" for w in ("runs", "barks", "sleeps") * 8)


@pytest.fixture(scope="session")
def model_dirs(tmp_path_factory):
    """{"lm": ..., "classifier": ..., "tagger": ..., "translator": ...}: checkpoint
    directories."""
    d = tmp_path_factory.mktemp("served")
    (d / "fox.txt").write_text(FOX * 8, encoding="utf-8")
    (d / "sms.tsv").write_text(sms_lines(), encoding="utf-8")
    (d / "pos.tsv").write_text(POS, encoding="utf-8")
    (d / "addition.txt").write_text(QUESTIONS, encoding="utf-8")
    small = ["--embed", "8", "--hidden", "16"]
    runs = {
        "lm": ["train", "--train", d / "fox.txt", "--max-steps", "30", "--batch", "4"],
        "classifier": ["classify", "train", "--data", d / "sms.tsv", "--epochs", "2"],
        "tagger": ["tag", "train", "--train", d / "pos.tsv", "--epochs", "2"],
        "translator": [
            *("translate", "train", "--data", d / "addition.txt", "--format", "qa"),
            *("--level", "char", "--reverse-source", "--epochs", "2", "--batch", "4"),
        ],
    }
    for name, args in runs.items():
        assert main([*map(str, args), *small, "--out", str(d / name)]) == 0
    return {name: d / name for name in runs}
