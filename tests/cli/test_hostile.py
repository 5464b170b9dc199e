"""What a hostile but realistic user found in the newest commands (issue 26), each case a
real ``elman`` process: refused (exit code 2, one sentence naming the problem and the fix,
no traceback, every file that was there before byte for byte as it was, by SHA-256), or
repaired (exit code 0 and the right result). The server's cases are in
``tests/serve/test_server.py``; the disk-full ones run on a small file system of their own
(``small_disk``)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from tests.cli.test_lm import FOX, TINY, elman, ok, write
from tests.cli.test_translate import QUESTIONS

TRANSLATE_TINY = [
    *("--data", "{data}", "--format", "qa", "--level", "char", "--embed", "8", "--hidden", "8"),
    *("--batch", "4", "--beam", "2", "--log-every", "2"),
]


def digests(*roots: Path) -> dict[str, str]:
    """SHA-256 of every file under ``roots`` (files or directories), by path."""
    found = {}
    for root in roots:
        paths = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in paths:
            found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


@contextmanager
def unchanged(*roots: Path) -> Iterator[None]:
    """Every file under ``roots`` is there afterwards, byte for byte, and no other."""
    before = digests(*roots)
    yield
    assert digests(*roots) == before


def refused(result: subprocess.CompletedProcess, *parts: str) -> str:
    """Exit code 2 and one sentence on stderr, naming ``parts``; returns the sentence."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("elman: error: "), result.stderr
    for part in parts:
        assert part in lines[0], lines[0]
    assert lines[0].endswith("."), lines[0]
    return lines[0]


def translate_args(data: Path) -> list[str]:
    return [a.replace("{data}", str(data)) for a in TRANSLATE_TINY]


@pytest.fixture()
def lm_run(tmp_path):
    """A finished 5-step language-model run and its training text."""
    text = write(tmp_path, "train.txt", FOX * 6)
    out = tmp_path / "lm"
    ok(elman("train", "--train", text, "--out", out, "--max-steps", "5", *TINY, "--threads", "1"))
    return out, text


@pytest.fixture()
def translate_run(tmp_path):
    """A 4-step translator run."""
    data = write(tmp_path, "addition.txt", QUESTIONS)
    out = tmp_path / "translator"
    ok(elman("translate", "train", *translate_args(data), "--max-steps", "4", "--out", out))
    return out, data


# Item 6: a torn last line of metrics.jsonl ----------------------------------------------


def records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("tail", ['{"event": "step", "ep', "[1, 2"], ids=["cut", "not-an-object"])
@pytest.mark.parametrize("kind", ["lm", "translate"])
def test_resume_drops_a_torn_last_line_of_the_metrics(kind, tail, request):
    """What a full disk leaves at the end of metrics.jsonl: the run resumes with a note,
    and its records afterwards are whole and in order, as an unbroken run's."""
    out, _ = request.getfixturevalue(f"{kind}_run")
    whole = records(out)
    with open(out / "metrics.jsonl", "a", encoding="utf-8") as f:
        f.write(tail)
    command = ["train"] if kind == "lm" else ["translate", "train"]
    result = elman(*command, "--resume", out, "--max-steps", "10")
    ok(result)
    assert "note: the last line of" in result.stderr and "left out" in result.stderr
    after = records(out)  # every line parses
    assert after[: len(whole)] == whole
    steps = [r["step"] for r in after if r["event"] == "step"]
    assert steps == sorted(steps) and steps[-1] == 10


@pytest.mark.parametrize("kind", ["lm", "translate"])
def test_resume_refuses_a_damaged_line_before_the_last(kind, request):
    out, _ = request.getfixturevalue(f"{kind}_run")
    lines = (out / "metrics.jsonl").read_text().splitlines(keepends=True)
    lines[1] = '{"event": "step", "step": 2, "lo\n'
    (out / "metrics.jsonl").write_text("".join(lines))
    command = ["train"] if kind == "lm" else ["translate", "train"]
    with unchanged(out):
        refused(elman(*command, "--resume", out, "--max-steps", "8"), "line 2 of", "damaged")


# Item 9: inspect curves on a record with a figure that is not a number -----------------


@pytest.mark.parametrize("field", ["step", "loss"])
def test_curves_refuse_a_figure_that_is_not_a_number(lm_run, tmp_path, field):
    out, _ = lm_run
    lines = (out / "metrics.jsonl").read_text().splitlines(keepends=True)
    step_line = next(i for i, line in enumerate(lines) if '"event": "step"' in line)
    record = json.loads(lines[step_line])
    record[field] = "x"
    lines[step_line] = json.dumps(record) + "\n"
    (out / "metrics.jsonl").write_text("".join(lines))
    with unchanged(tmp_path):
        result = elman("inspect", "curves", "--run", out, "--plot", tmp_path / "c.png")
        refused(result, f"line {step_line + 1} of", f'its {field} is "x", expected a number')


# Item 15: a complex-valued .npy vector -------------------------------------------------


def test_complex_vectors_are_refused(tmp_path):
    text = write(tmp_path, "t.txt", "ab\nba\nab\n")
    complex_vectors = tmp_path / "complex.npy"
    np.save(complex_vectors, np.ones((3, 2)) * (1 + 2j))
    args = [
        "--condition",
        "vector",
        "--embed",
        "8",
        "--hidden",
        "8",
        "--epochs",
        "1",
        "--batch",
        "2",
    ]
    with unchanged(tmp_path):
        result = elman("train", "--train", text, "--vectors", complex_vectors, *args,
                       "--out", tmp_path / "run")  # fmt: skip
        refused(result, "complex.npy holds complex numbers (complex128)", "numpy.real")
    real = tmp_path / "real.npy"
    np.save(real, np.ones((3, 2)))
    ok(elman("train", "--train", text, "--vectors", real, *args, "--out", tmp_path / "run"))
    one = tmp_path / "one.npy"
    np.save(one, np.array([1j, 0]))
    with unchanged(tmp_path):
        refused(elman("generate", "--model", tmp_path / "run", "--vector", one), "complex numbers")


# Item 16: labels are read in NFC, as text is -------------------------------------------

POSITIVE, NEGATIVE = "긍정", "부정"  # composed (NFC)
POSITIVE_NFD = unicodedata.normalize("NFD", POSITIVE)  # the same word, decomposed


def test_labels_typed_decomposed_are_the_composed_ones(tmp_path):
    """A file mixing both forms trains two classes, not three; --label typed decomposed
    generates; eval and predict read decomposed labels as the model's."""
    assert POSITIVE_NFD != POSITIVE
    lines = [
        f"{label}\t{text} {i}"
        for i in range(12)
        for label, text in ((POSITIVE, "good"), (POSITIVE_NFD, "fine"), (NEGATIVE, "bad"))
    ]
    data = write(tmp_path, "mixed.tsv", "\n".join(lines) + "\n")
    small = ["--embed", "8", "--hidden", "8", "--epochs", "1"]
    ok(elman("classify", "train", "--data", data, *small, "--out", tmp_path / "classifier"))
    config = json.loads((tmp_path / "classifier" / "config.json").read_text())
    assert config["data"]["labels"] == [POSITIVE, NEGATIVE]
    decomposed = write(tmp_path, "nfd.tsv", f"{POSITIVE_NFD}\tgood\n{NEGATIVE}\tbad\n")
    evaluate = ["classify", "eval", "--model", tmp_path / "classifier", "--data", decomposed]
    result = json.loads(ok(elman(*evaluate, "--json")))
    assert result["total"] == 2 and result["classes"][POSITIVE]["support"] == 1

    lm = tmp_path / "lm"
    ok(elman("train", "--data", data, "--condition", "label", *small, "--out", lm))
    assert json.loads((lm / "config.json").read_text())["data"]["labels"] == [POSITIVE, NEGATIVE]
    ok(elman("generate", "--model", lm, "--label", POSITIVE_NFD, "--length", "5"))
    ok(elman("eval", "--model", lm, "--data", decomposed))
