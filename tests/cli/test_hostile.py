"""What a hostile but realistic user found in the newest commands (issue 26), each case a
real ``elman`` process: refused (exit code 2, one sentence naming the problem and the fix,
no traceback, every file that was there before byte for byte as it was, by SHA-256), or
repaired (exit code 0 and the right result). The server's cases are in
``tests/serve/test_server.py``; the disk-full ones run on a small file system of their own
(``small_disk``)."""

from __future__ import annotations

import argparse
import errno
import hashlib
import json
import os
import subprocess
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy

from elman import checkpoint
from elman.cli import build_parser, main
from elman.cli.flags import WRITES_FILES, WRITES_OUTPUT
from elman.errors import ElmanError
from elman.lm import checkpoint as lm_checkpoint
from tests.cli.test_lm import FOX, TINY, elman, ok, write
from tests.cli.test_translate import QUESTIONS
from tests.parts import fill, small_disk

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


# Item 1: export writes over no file it was not named to write ---------------------------


@pytest.mark.parametrize("name", ["config.onnx", "vocab.onnx", "vocab-target.onnx"])
def test_export_never_writes_over_a_runs_own_files(lm_run, tmp_path, name):
    pytest.importorskip("onnx")
    out, _ = lm_run
    with unchanged(tmp_path):
        refused(
            elman("export", "--model", out, out / name, "--overwrite"),
            f"{out / name.replace('.onnx', '.json')} is a file of the training run in {out}",
        )


def test_export_replaces_an_unrelated_file_only_when_told(lm_run, tmp_path):
    pytest.importorskip("onnx")
    out, _ = lm_run
    unrelated = write(tmp_path, "e04.json", '{"epoch": 4}\n')
    with unchanged(tmp_path):
        refused(elman("export", "--model", out, tmp_path / "e04.onnx"), "e04.json already exists")
    ok(elman("export", "--model", out, tmp_path / "e04.onnx", "--overwrite"))
    assert json.loads(unrelated.read_text())["format"] == "elman-onnx"
    ok(elman("export", "--model", out, tmp_path / "e04.onnx"))  # its own sidecar: replaced
    with unchanged(tmp_path):
        refused(elman("export", "--model", out, tmp_path), "is a directory")


# Item 8: export of a conditioned language model ----------------------------------------


def test_export_of_a_conditioned_model_is_refused(tmp_path):
    pytest.importorskip("onnx")
    data = write(tmp_path, "s.tsv", "".join(f"pos\tgood {i}\nneg\tbad {i}\n" for i in range(10)))
    out = tmp_path / "run"
    small = ["--embed", "8", "--hidden", "8", "--epochs", "1", "--batch", "2"]
    ok(elman("train", "--data", data, "--condition", "label", *small, "--out", out))
    with unchanged(tmp_path):
        refused(
            elman("export", "--model", out, tmp_path / "c.onnx"),
            "conditioned on a label, which ONNX export does not cover yet",
        )


# Items 5 and 18: a full disk, and what each command then says --------------------------


@pytest.fixture()
def disk(tmp_path):
    """A small file system of the test's own, for the cases of a full disk."""
    with small_disk(tmp_path / "disk", "8m") as where:
        yield where


def test_a_report_on_a_full_disk_stays_the_old_one(lm_run, disk):
    """inspect units on a full disk: the report already there is whole and as it was,
    and the message says what is true of it (no checkpoint of any kind)."""
    out, text = lm_run
    report = disk / "report"
    ok(elman("inspect", "units", "--model", out, "--text", text, "--out", report))
    fill(disk)
    with unchanged(report):
        result = elman("inspect", "units", "--model", out, "--text", text, "--out", report)
        sentence = refused(result, "No space left on device", "free some disk space")
    assert "renamed only once whole, so any file it was to replace is as it was" in sentence
    assert "checkpoint" not in sentence
    assert {p.name for p in report.iterdir()} == {"index.html", "units.json"}  # no temporary


def test_files_written_together_are_all_replaced_or_none(tmp_path):
    """A report's page and figures, an export and its sidecar: when the second file cannot
    be written (ENOSPC), the first is not renamed into place either, and no temporary
    file is left."""
    first, second = write(tmp_path, "units.json", "old\n"), write(tmp_path, "index.html", "old\n")

    def full(tmp):
        tmp.write_text("new, but cut short")
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp))

    with unchanged(tmp_path), pytest.raises(OSError, match="No space left"):
        checkpoint.atomic_write_together({first: lambda tmp: tmp.write_text("new\n"), second: full})
    checkpoint.atomic_write_together(
        {first: lambda tmp: tmp.write_text("new\n"), second: lambda tmp: tmp.write_text("new\n")}
    )
    assert first.read_text() == second.read_text() == "new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index.html", "units.json"]


def test_a_plot_on_a_full_disk_stays_the_old_one(lm_run, disk):
    pytest.importorskip("matplotlib")
    out, _ = lm_run
    plot = disk / "curves.png"
    ok(elman("inspect", "curves", "--run", out, "--plot", plot))
    fill(disk)
    with unchanged(disk):
        result = elman("inspect", "curves", "--run", out, "--plot", plot)
        refused(result, "No space left on device", "renamed only once whole")


def test_a_full_disk_at_a_runs_first_save_says_it_cannot_resume(tmp_path, disk):
    """The disk fills at the first save of the training state: the message says no state
    was saved, so the run cannot resume, instead of "the last saved checkpoint is
    intact"."""
    text = write(tmp_path, "train.txt", FOX * 40)
    fill(disk)
    os.truncate(disk / "filler", (disk / "filler").stat().st_size - 600_000)  # 0.6 MB free
    # The weights (0.4 MB) fit, the training state (1.5 MB: Adam's moments too) does not.
    big = ["--embed", "64", "--hidden", "256", "--batch", "4", "--bptt", "16"]
    result = elman("train", "--train", text, "--out", disk / "run", "--max-steps", "2", *big)
    sentence = refused(
        result,
        f"cannot write to {disk / 'run'}: No space left on device",
        "no training state was saved before, so the run cannot resume; free some disk space "
        "and start it again",
    )
    assert "intact" not in sentence


# Items 17 and 18: output paths are checked before any work ------------------------------


def test_output_paths_are_checked_before_any_work(lm_run, tmp_path):
    pytest.importorskip("matplotlib")
    out, text = lm_run
    (tmp_path / "dir.png").mkdir()
    existing = write(tmp_path, "existing.txt", "mine\n")
    with unchanged(tmp_path):
        new_run = ["train", "--train", text, "--out", tmp_path / "new", *TINY, "--epochs", "50"]
        refused(elman(*new_run, "--plot", tmp_path / "dir.png"), "--plot", "is a directory")
        refused(
            elman("inspect", "curves", "--run", out, "--plot", tmp_path / "dir.png"),
            "is a directory",
        )
        refused(
            elman("inspect", "units", "--model", out, "--text", text, "--out", existing),
            f"--out {existing} cannot be a directory, as {existing} is a file",
        )
        refused(
            elman(*("inspect", "units", "--model", out, "--text", text),
                  "--out", tmp_path / "report", "--feature", f"f={tmp_path / 'dir.png'}"),
            "is a directory, not a text file",
        )  # fmt: skip
    assert not (tmp_path / "new").exists()


def test_show_attention_into_a_file_is_refused_before_translating(translate_run, tmp_path):
    pytest.importorskip("matplotlib")
    out, _ = translate_run
    existing = write(tmp_path, "attention", "a file\n")
    with unchanged(tmp_path):
        result = elman(
            "translate", "predict", "--model", out, "--show-attention", existing, stdin="1+2\n"
        )
        refused(result, f"--show-attention {existing} cannot be a directory")
    assert result.stdout == ""


# Items 7, 13, 14 and 21-24: limits -----------------------------------------------------


def test_a_target_over_the_length_limit_is_refused_naming_its_line(tmp_path):
    """One 200,000-character target line (which allocated ~23 GB and was killed), and a
    5,000-word one: refused at once, naming the line, nothing written."""
    long_char = QUESTIONS + "1+1    _" + "2" * 200_000 + "\n"
    data = write(tmp_path, "long.txt", long_char)
    with unchanged(tmp_path):
        result = elman("translate", "train", *translate_args(data), "--out", tmp_path / "run")
        refused(
            result,
            f"{data} line 41 has a translation of 200,000 characters, more than the 1,000 a "
            "translator writes",
        )
    words = write(tmp_path, "words.tsv", "a b\tc d\n" * 20 + "a\t" + "w " * 5000 + "\n")
    with unchanged(tmp_path):
        result = elman(
            "translate", "train", "--data", words, "--level", "word", "--out", tmp_path / "run"
        )
        refused(result, "line 21 has a translation of 5,000 words, more than the 1,000")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--max-extra", "1000000000", "--max-extra must be between 0 and 1,000"),
        ("--max-ratio", "1e308", "--max-ratio must be between 0 and 10 "),
        ("--beam", "1000000", "--beam must be between 1 (greedy) and 20, got 1,000,000"),
        ("--threads", "1000", "--threads 1000 is more than the"),
    ],
)
def test_translate_train_refuses_settings_beyond_their_limits(tmp_path, flag, value, message):
    data = write(tmp_path, "addition.txt", QUESTIONS)
    with unchanged(tmp_path):
        result = elman(
            "translate", "train", *translate_args(data), flag, value, "--out", tmp_path / "run"
        )
        refused(result, message)
    assert not (tmp_path / "run").exists()


def test_decoding_refuses_a_beam_beyond_the_limit(translate_run, tmp_path):
    out, data = translate_run
    with unchanged(tmp_path):
        for command in (["predict", "--model", out], ["eval", "--model", out, "--data", data]):
            result = elman("translate", *command, "--beam", "1000000", stdin="1+2\n")
            refused(result, "--beam must be between 1 (greedy) and 20, got 1,000,000")


def test_generate_and_train_refuse_lengths_and_threads_beyond_their_limits(lm_run, tmp_path):
    out, text = lm_run
    with unchanged(tmp_path):
        refused(
            elman("generate", "--model", out, "--length", "100000000000"),
            "--length must be between 0 and 10,000,000 tokens, got 100,000,000,000",
        )
        cores = len(os.sched_getaffinity(0))
        for command in (["train", "--train", text], ["classify", "train", "--data", text]):
            refused(
                elman(*command, "--threads", cores + 1, "--out", tmp_path / "run"),
                f"--threads {cores + 1} is more than the {cores} cores this process may use",
            )


def run_in_process(capsys, *args) -> subprocess.CompletedProcess:
    """``elman ARGS`` through ``elman.cli.main`` in this process, for cases that need a
    part of the library replaced (memory that runs out)."""
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, captured.out, captured.err)


def test_a_memory_error_in_translate_predict_names_the_beam(
    translate_run, tmp_path, monkeypatch, capsys
):
    out, _ = translate_run
    sources = write(tmp_path, "sources.txt", "1+2\n")

    def out_of_memory(*args, **kwargs):
        raise MemoryError()

    monkeypatch.setattr("elman.translate.decode.beam_search", out_of_memory)
    result = run_in_process(capsys, "translate", "predict", "--model", out, sources, "--beam", 5)
    sentence = refused(result, "not enough memory; choose a smaller --beam or --batch")
    assert "--bptt" not in sentence


def test_decoding_that_would_not_fit_is_refused_before_it_starts(
    translate_run, tmp_path, monkeypatch, capsys
):
    """The memory estimate (``translate.model.memory_needed``) against what is available,
    here made 20 MB: a beam of 20 over 64 sources of 1,000 characters is refused with the
    settings to lower; translate train refuses pairs that long before --out is touched."""
    out, _ = translate_run
    monkeypatch.setattr("elman.memory.available_memory", lambda: 20 * 2**20)
    sources = write(tmp_path, "long.txt", ("1+" * 499 + "1\n") * 64)
    with unchanged(tmp_path):
        result = run_in_process(
            capsys, "translate", "predict", "--model", out, sources, "--beam", "20", "--batch", "64"
        )
        refused(
            result,
            "translating sentences of up to 999 tokens 64 at a time with a beam of 20 needs about",
            "GiB of memory, but 0.0 GiB is available; choose a smaller --beam or --batch",
        )
    assert result.stdout == ""
    data = write(tmp_path, "data.txt", QUESTIONS + "1+1" * 300 + "_" + "2" * 900 + "\n")
    with unchanged(tmp_path):
        result = run_in_process(
            capsys, "translate", "train", *translate_args(data), "--out", tmp_path / "run"
        )
        refused(
            result,
            "training this translator on its longest sentences (900 source and 900 target "
            "characters) needs about",
            "choose a smaller --batch, --eval-batch, --beam or --hidden",
        )
    assert not (tmp_path / "run").exists()


def commands(parser: argparse.ArgumentParser, prefix: str = "elman") -> Iterator:
    """Every command of ``parser``, as (name, its parser)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from commands(sub, f"{prefix} {name}")
            return
    yield prefix, parser


def test_every_command_says_what_it_writes_and_what_to_lower():
    """The handlers of a failed write and of exhausted memory in ``elman.cli.main`` say
    what each command declared (``flags.declare``): a command that forgot would fall
    back on words not true of it. (The parser holds the flags and the declaration of the
    command given only, so it is built once for each.)"""
    found, names = {}, list(dict(commands(build_parser([]))))
    while names:
        name = names.pop()
        built = dict(commands(build_parser(name.split()[1:])))
        if name in built:
            found[name] = built[name]
        else:  # a family (elman inspect): its commands
            names += [deeper for deeper in built if deeper.startswith(name + " ")]
    assert {"elman train", "elman translate predict", "elman inspect units"} <= set(found)
    for name, parser in found.items():
        assert parser.get_default("writes") in (WRITES_FILES, WRITES_OUTPUT), name
        assert parser.get_default("memory"), name
    assert found["elman translate predict"].get_default("memory") == (
        "choose a smaller --beam or --batch"
    )
    assert found["elman inspect units"].get_default("writes") == WRITES_FILES
    assert found["elman generate"].get_default("writes") == WRITES_OUTPUT


# Item 19: a model whose float32 state overflows -----------------------------------------


@pytest.fixture()
def overflowing(tmp_path):
    """A ReLU RNN language model whose W_h is 1.1 I (issue 26): its state grows by a tenth
    at every step and passes the largest float32 after about 900 tokens of one stream."""
    text = write(tmp_path, "train.txt", FOX * 6)
    out = tmp_path / "relu"
    ok(elman("train", "--train", text, "--out", out, "--cell", "rnn-relu", "--max-steps", "2",
             *TINY))  # fmt: skip
    ckpt = lm_checkpoint.load(out)
    ckpt.model.params["rnn.0.W_h"][...] = 1.1 * np.eye(16, dtype=np.float32)
    lm_checkpoint.save_checkpoint(out, ckpt)
    long = write(tmp_path, "long.txt", FOX * 60)  # 6,060 characters
    return out, long


def test_generation_scoring_and_evaluation_say_the_state_overflowed(overflowing, tmp_path):
    out, long = overflowing
    line = write(tmp_path, "lines.txt", "the dog\n\n" + FOX.replace("\n", " ") * 30 + "\n")
    with unchanged(tmp_path):
        result = elman("generate", "--model", out, "--length", "5000")
        refused(result, "the model's state overflowed at token", "of the generated text",
                "retrain with a lower --lr or a --clip")  # fmt: skip
        result = elman("eval", "--model", out, "--data", long, "--batch", "1")
        refused(result, "the model's state overflowed at token", "of the text (")
        result = elman("score", "--model", out, line)
        refused(result, "the model's state overflowed at token", f"of line 3 of {line} (")
    assert result.stdout.splitlines()[1].split("\t")[3] == "the dog"  # scored before it


def test_the_place_named_is_where_the_state_overflowed(overflowing):
    """Token by token, the state is finite up to the place the message names and not
    after it."""
    from elman.lm import checkpoint as lm_checkpoint
    from elman.lm.generate import line_log_probs

    out, long = overflowing
    ckpt = lm_checkpoint.load(out)
    ids = ckpt.tokenizer.encode(long.read_text())
    with np.errstate(over="ignore", invalid="ignore"):
        logits, _ = ckpt.model.logits(ids[None, :-1])
    finite = np.isfinite(logits[0]).all(axis=1)
    first = int(np.argmin(finite))  # the first step whose logits are not finite
    assert first > 100 and finite[:first].all()
    result = elman("eval", "--model", out, "--data", long, "--batch", "1")
    refused(result, f"overflowed at token {first + 1:,} of the text")
    with pytest.raises(ElmanError, match=f"at token {first + 1:,} of the line"):
        line_log_probs(ckpt.model, ckpt.tokenizer, long.read_text().replace("\n", " "))


# Item 20: --state reset reads the groups of lines in a new order each epoch --------------


def test_twenty_steps_on_tiny_shakespeare_no_longer_collapse(tmp_path):
    """The built-in Tiny Shakespeare with --state reset: in length order its first 225
    batches are blank lines, and 20 steps drove the training loss to 0.0000 and the
    validation perplexity to 251, where a uniform guess scores 66. Read in a new order
    of groups, the 20 steps learn from every kind of line."""
    out = tmp_path / "run"
    settings = ["--state", "reset", "--restart-every", "0", "--hidden", "128", "--lr", "0.01"]
    ok(elman("train", *settings, "--max-steps", "20", "--log-every", "1", "--threads", "1",
             "--out", out))  # fmt: skip
    steps = [r["loss"] for r in records(out) if r["event"] == "step"]
    (epoch,) = [r for r in records(out) if r["event"] == "epoch"]
    uniform = json.loads((out / "config.json").read_text())["model"]["vocab_size"]
    assert len(steps) == 20 and min(steps[-5:]) > 0.5
    assert epoch["valid_ppl"] < uniform / 2


def test_a_reset_run_stopped_inside_a_group_resumes_to_the_same_weights(tmp_path):
    """Groups of 4 lines of about 55 characters, read 16 at a time: step 10 stops inside
    the third group of the shuffled order. Resumed, the run reads the same order on (the
    order generator is rewound to the epoch's start) with the state carried within the
    group, and ends with the weights of a run never stopped, bit for bit."""
    text = write(
        tmp_path,
        "train.txt",
        "".join(f"line {i}: the quick brown fox jumps over the dog {i % 7}\n" for i in range(40)),
    )
    settings = [*TINY, "--state", "reset", "--epochs", "2", "--threads", "1", "--train", text]
    ok(elman("train", *settings, "--out", tmp_path / "whole"))
    ok(elman("train", *settings, "--out", tmp_path / "cut", "--max-steps", "10"))
    ok(elman("train", "--resume", tmp_path / "cut", "--max-steps", "0"))
    whole, cut = (
        safetensors.numpy.load_file(tmp_path / run / "resume.safetensors")
        for run in ("whole", "cut")
    )
    for name in ("params", "optimizer.m", "optimizer.v"):
        assert whole[name].tobytes() == cut[name].tobytes(), name
