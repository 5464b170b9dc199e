"""Every kind of model resumes exactly through the one training loop: a run killed with
SIGKILL part-way and resumed ends with every .safetensors file equal byte for byte to an
uninterrupted run's, and the same metrics records apart from timing fields."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.test_resume import saved_step, wait_for_step
from tests.cli.test_subword import REVIEWS, labelled, mirrored_pairs

SMS = "".join(
    f"ham\tok see you at {i % 9} then\nspam\tWIN {i} CASH NOW call 0800{i % 7}\n"
    "ham\twhat time is the game tonight\n"
    for i in range(40)
)
POS = "".join(
    f"the\tDET\ndog\tNOUN\n{word}\tVERB\nfast\tADV\n.\tPUNCT\n\n"
    for word in ("runs", "barks", "sleeps", "eats") * 10
)
PAIRS = "".join(
    f"{a} plus {b}\t{a + b}\n" for a in range(12) for b in range(4)
)  # word pairs, source<TAB>target
TIMING = ("seconds",)


def run_elman(*args: object, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "elman", *map(str, args)],
        cwd=cwd,
        env={**os.environ, "PYTHONUTF8": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def without_timing(records: list[dict]) -> list[dict]:
    return [
        {k: v for k, v in r.items() if k not in TIMING and not k.endswith("_per_s")}
        for r in records
    ]


def records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


KINDS = {
    "classify": (
        "sms.tsv",
        SMS,
        ["classify", "train", "--data"],
        ["--embed", "8", "--hidden", "16", "--batch", "4", "--epochs", "3", "--dropout", "0.3"],
    ),
    "tag": (
        "pos.tsv",
        POS,
        ["tag", "train", "--train"],
        ["--embed", "8", "--hidden", "16", "--batch", "2", "--epochs", "3", "--char-hidden", "4"],
    ),
    # A bidirectional encoder with dropout, attention, a bridge, a peeky decoder and the
    # seeded split of --data; the test record (beam search) must come out the same too.
    "translate": (
        "pairs.tsv",
        PAIRS,
        ["translate", "train", "--data"],
        [
            "--embed",
            "8",
            "--hidden",
            "8",
            "--batch",
            "4",
            "--epochs",
            "3",
            "--dropout",
            "0.3",
            "--bidirectional",
            "--peeky",
            "--attention",
            "additive",
            "--beam",
            "2",
        ],
    ),  # fmt: skip
    # Subword pieces: the sentencepiece model is learned once, at the start, and kept.
    "lm-subword": (
        "reviews.txt",
        REVIEWS,
        ["train", "--train"],
        ["--level", "subword", "--vocab-size", "320", "--embed", "8", "--hidden", "16",
         "--batch", "4", "--bptt", "16", "--epochs", "2", "--dropout", "0.3"],
    ),
    "classify-subword": (
        "reviews.tsv",
        labelled(REVIEWS),
        ["classify", "train", "--data"],
        ["--level", "subword", "--vocab-size", "310", "--embed", "8", "--hidden", "16",
         "--batch", "8", "--epochs", "3", "--dropout", "0.3"],
    ),
    "translate-subword": (
        "pairs.tsv",
        mirrored_pairs(),
        ["translate", "train", "--data"],
        ["--level", "subword", "--vocab-size", "300", "--embed", "8", "--hidden", "8",
         "--batch", "4", "--epochs", "3", "--attention", "dot", "--beam", "2"],
    ),
}  # fmt: skip


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_sigkill_then_resume_writes_the_same_files_as_an_unbroken_run(kind, tmp_path):
    name, text, command, settings = KINDS[kind]
    data = tmp_path / name
    data.write_text(text, encoding="utf-8")
    # --threads 1: the same BLAS thread count in both runs, as tests/cli/test_resume.py.
    settings = [*settings, "--save-every", "3", "--log-every", "2", "--threads", "1"]
    whole = run_elman(*command, data, "--out", tmp_path / "whole", *settings, cwd=tmp_path)
    assert whole.wait() == 0, whole.stderr.read()

    cut = run_elman(*command, data, "--out", tmp_path / "killed", *settings, cwd=tmp_path)
    wait_for_step(cut, tmp_path / "killed", 6)
    cut.send_signal(signal.SIGKILL)
    cut.wait()
    assert 6 <= saved_step(tmp_path / "killed") < records(tmp_path / "whole")[-2]["step"]
    resumed = run_elman(*command[:-1], "--resume", tmp_path / "killed", cwd=tmp_path)
    _, stderr = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, stderr

    for path in sorted((tmp_path / "whole").glob("*.safetensors")):
        assert path.read_bytes() == (tmp_path / "killed" / path.name).read_bytes(), path.name
    assert without_timing(records(tmp_path / "killed")) == without_timing(
        records(tmp_path / "whole")
    )


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_resume_refuses_new_settings_and_changed_data(kind, tmp_path):
    name, text, command, settings = KINDS[kind]
    data = tmp_path / name
    data.write_text(text, encoding="utf-8")
    out = tmp_path / "run"
    first = run_elman(*command, data, "--out", out, *settings, "--max-steps", "2", cwd=tmp_path)
    assert first.wait() == 0, first.stderr.read()
    hidden = run_elman(*command[:-1], "--resume", out, "--hidden", "32", cwd=tmp_path)
    assert hidden.wait() == 2 and "takes no --hidden" in hidden.stderr.read()
    data.write_text(text + text.splitlines(keepends=True)[0], encoding="utf-8")
    changed = run_elman(*command[:-1], "--resume", out, "--max-steps", "4", cwd=tmp_path)
    assert changed.wait() == 2 and "changed since the run" in changed.stderr.read()
