"""A run is the library's (elman.runs): one started in Python resumes from the command
line and one started from the command line resumes in Python, to the same bytes as a
run never interrupted; inputs are checked against their fingerprints; a directory with
a run's files is taken over only with --overwrite, and only once the new run has shown
it can train, and a user's own files there are never touched.

"Identical" compares the saved tensors byte for byte, with one BLAS thread throughout
(``threads=1``: one and two threads round some products differently)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from elman import runs
from elman.errors import ElmanError
from tests.cli.test_resume import same_tensors, saved_step, wait_for_step

TEXT = "".join(
    f"line {i}: the quick brown fox jumps over the lazy dog {i % 7}\n" for i in range(80)
)
VALID = TEXT[:400]
# A Python run: a 48-unit LSTM language model on TEXT with locked dropout, saved every 7
# steps; the same settings as elman train's flags below.
PYTHON_RUN = textwrap.dedent(
    """
    import sys
    import elman
    from elman.lm.config import LanguageModelConfig, LanguageModelTrainConfig
    train_text = open(sys.argv[1], encoding="utf-8").read()
    valid_text = open(sys.argv[2], encoding="utf-8").read()
    tokenizer = elman.CharTokenizer.fit(train_text)
    config = LanguageModelConfig(vocab_size=len(tokenizer), embed=16, hidden=48, cell="lstm",
                                 dropout=0.2, dropout_kind="locked")
    model = elman.LanguageModel(config, seed=0)
    settings = LanguageModelTrainConfig(batch=4, bptt=16, epochs=3, restart_every=3,
                                        save_every=7, log_every=5, threads=1)
    elman.train(model, tokenizer, train_text, valid_text, settings, out_dir=sys.argv[3],
                progress=False, catch_signals=True)
    """
)


def python_run(tmp_path, out) -> subprocess.Popen:
    args = [sys.executable, "-c", PYTHON_RUN, tmp_path / "train.txt", tmp_path / "valid.txt", out]
    return subprocess.Popen(list(map(str, args)), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip


def elman(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "elman", *map(str, args)], capture_output=True,
                          text=True)  # fmt: skip


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def refused(result: subprocess.CompletedProcess, *words: str) -> str:
    """One sentence on stderr, exit 2, no traceback."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and result.stderr.startswith("elman: error: ")
    assert len(result.stderr.strip().splitlines()) == 1
    for word in words:
        assert word in result.stderr
    return result.stderr


def digests(directory) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.iterdir())
        if p.is_file()
    }


@pytest.fixture(scope="module")
def texts(tmp_path_factory):
    d = tmp_path_factory.mktemp("runs")
    (d / "train.txt").write_text(TEXT, encoding="utf-8")
    (d / "valid.txt").write_text(VALID, encoding="utf-8")
    whole = python_run(d, d / "whole")
    assert whole.wait() == 0, whole.stderr.read()
    return d


def test_a_python_run_killed_resumes_from_the_command_line_exactly(texts):
    """elman.train(...) with its texts in memory, SIGKILL mid-run, then elman train
    --resume DIR --train F --valid F: the same files as the run never interrupted."""
    out = texts / "killed"
    run = python_run(texts, out)
    wait_for_step(run, out, 30)
    run.send_signal(signal.SIGKILL)
    run.wait()
    assert 30 <= saved_step(out) < 3 * 90
    record = json.loads((out / "config.json").read_text())["data"]["inputs"]
    assert record["train"]["path"] is None  # read from memory: given again to resume
    refused(elman("train", "--resume", out), "--train FILE", "from memory")
    other = texts / "other.txt"
    other.write_text(TEXT.upper(), encoding="utf-8")
    refused(elman("train", "--resume", out, "--train", other, "--valid", texts / "valid.txt"),
            "changed since the run")  # fmt: skip
    ok(elman("train", "--resume", out, "--train", texts / "train.txt", "--valid",
             texts / "valid.txt"))  # fmt: skip
    for name in ("model.safetensors", "resume.safetensors"):
        assert same_tensors(out / name, texts / "whole" / name), name


def test_a_command_line_translator_killed_resumes_in_python_exactly(tmp_path):
    """elman translate train from the command line, SIGKILL mid-run, then
    elman.resume(DIR) in Python: the same files as the run never interrupted."""
    pairs = "".join(f"{a}+{b}\t{a + b}\n" for a in range(12) for b in range(12))
    (tmp_path / "add.tsv").write_text(pairs, encoding="utf-8")
    flags = ["--data", tmp_path / "add.tsv", "--level", "char", "--hidden", "16", "--embed",
             "8", "--batch", "8", "--epochs", "4", "--save-every", "5", "--threads", "1",
             "--beam", "1"]  # fmt: skip
    ok(elman("translate", "train", *flags, "--out", tmp_path / "whole"))
    args = [sys.executable, "-m", "elman", "translate", "train", *flags, "--out", tmp_path / "cut"]
    run = subprocess.Popen(list(map(str, args)), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for_step(run, tmp_path / "cut", 20)
    run.send_signal(signal.SIGKILL)
    run.wait()
    assert 20 <= saved_step(tmp_path / "cut") < 4 * 15
    code = f"import elman; elman.resume({str(tmp_path / 'cut')!r}, progress=False)"
    subprocess.run([sys.executable, "-c", code], check=True)
    for name in ("model.safetensors", "resume.safetensors"):
        assert same_tensors(tmp_path / "cut" / name, tmp_path / "whole" / name), name


def test_a_directory_with_a_runs_files_is_taken_only_with_overwrite(tmp_path):
    """Elman's file names in --out (here no config.json or metrics.jsonl) are refused
    without --overwrite, touching nothing; with it, only they are replaced."""
    (tmp_path / "train.txt").write_text(TEXT, encoding="utf-8")
    out = tmp_path / "d"
    out.mkdir()
    (out / "model.safetensors").write_text("x")
    (out / "vocab.json").write_text("{}")
    (out / "notes.txt").write_text("mine")
    before = digests(out)
    small = ["--train", tmp_path / "train.txt", "--hidden", "8", "--max-steps", "2", "--out", out]
    refused(elman("train", *small), "holds files of an elman run", "--overwrite")
    assert digests(out) == before
    ok(elman("train", *small, "--overwrite"))
    assert (out / "notes.txt").read_text() == "mine"
    assert json.loads((out / "config.json").read_text())["kind"] == "language-model"
    refused(elman("train", "--resume", out, "--overwrite"), "takes no --overwrite")


def test_overwrite_keeps_the_old_run_when_the_new_one_cannot_take_a_step(tmp_path):
    """A new classifier whose longest training text does not fit in the memory allowed
    (ulimit -v) fails in its rehearsal, before the old run in --out is touched."""
    small = "".join(f"{label}\tsome words {i}\n" for i in range(40) for label in ("a", "b"))
    (tmp_path / "small.tsv").write_text(small, encoding="utf-8")
    out = tmp_path / "run"
    ok(elman("classify", "train", "--data", tmp_path / "small.tsv", "--out", out, "--epochs", "1"))
    before = digests(out)
    huge = small + "a\t" + " ".join(f"w{i % 5000}" for i in range(400_000)) + "\n"
    (tmp_path / "huge.tsv").write_text(huge, encoding="utf-8")
    script = (
        "import resource, sys; from elman.cli import main; "
        "resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30)); sys.exit(main())"
    )
    args = ["classify", "train", "--data", tmp_path / "huge.tsv", "--valid-fraction", "0",
            "--test-fraction", "0", "--out", out, "--overwrite", "--hidden", "256"]  # fmt: skip
    result = subprocess.run([sys.executable, "-c", script, *map(str, args)], capture_output=True,
                            text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})  # fmt: skip
    refused(result, "not enough memory")
    assert "vocabulary:" in result.stdout  # the data was read and the model built
    assert digests(out) == before


def test_resume_takes_no_input_it_did_not_record(tmp_path):
    (tmp_path / "train.txt").write_text(TEXT, encoding="utf-8")
    out = tmp_path / "run"
    ok(elman("train", "--train", tmp_path / "train.txt", "--hidden", "8", "--max-steps", "2",
             "--out", out))  # fmt: skip
    refused(elman("train", "--resume", out, "--valid", tmp_path / "train.txt"), "takes no --valid")
    refused(elman("train", "--resume", out, "--hidden", "9"), "takes no --hidden")
    with pytest.raises(ElmanError, match="takes no --lr"):
        runs.resume(out, limits={"lr": 0.1}, progress=False)


def test_examples_are_short_held_out_lines_spread_over_the_text_and_the_labels():
    lines = ["ROMEO:", *(f"line {i} of the validation text" for i in range(9)), "x" * 101]
    assert runs.examples(lines) == [
        {"text": "line 0 of the validation text"},
        {"text": "line 3 of the validation text"},
        {"text": "line 6 of the validation text"},
    ]
    texts = ["ok see you later", "sure lol ok see", "WIN 12345 CALL NOW", "ok  see you  later"]
    labels = ["ham", "ham", "spam", "ham"]
    assert runs.examples(texts, labels) == [  # one of each label first; spaces made single
        {"text": "ok see you later", "label": "ham"},
        {"text": "WIN 12345 CALL NOW", "label": "spam"},
        {"text": "sure lol ok see", "label": "ham"},
    ]
    pairs = runs.examples(["1+2", "3+4"], extra=[{"target": "3"}, {"target": "7"}], shortest=1)
    assert pairs == [{"text": "1+2", "target": "3"}, {"text": "3+4", "target": "7"}]
    assert runs.examples(["a <unk> in a penn treebank line"]) == []
    assert runs.examples(["that\x92s the way it goes"]) == []  # a control character
    assert runs.held_out({"train": [1], "valid": [], "test": [2]}) == [2]


def test_a_run_records_examples_of_its_validation_text(texts):
    config = json.loads((texts / "whole" / "config.json").read_text())
    examples = config["data"]["examples"]
    assert len(examples) == 3 and examples == runs.examples(VALID.split("\n"))
    assert all(e["text"] + "\n" in VALID for e in examples)
