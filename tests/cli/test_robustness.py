"""Mistakes that used to lose a run, leave a wrong one behind, or end in a traceback
(issue 15), each reproduced as a real ``elman`` process: the old run stays byte for byte
as it was, a refused run leaves nothing behind, a run already at its limit changes
nothing, two runs cannot share a directory, and pipes closed early end quietly."""

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import safetensors.numpy

from elman.lm import checkpoint as lm_checkpoint
from tests.cli.test_lm import FOX, TINY, elman, ok, write


def files_of(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def refused(result: subprocess.CompletedProcess, message: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("elman: error: "), result.stderr
    assert message in lines[0], lines[0]


@pytest.fixture()
def run(tmp_path):
    """A finished 5-step run and its training text."""
    text = write(tmp_path, "train.txt", FOX * 6)
    out = tmp_path / "run"
    ok(elman("train", "--train", text, "--out", out, "--max-steps", "5", *TINY, cwd=tmp_path))
    return out, text


def test_a_refused_run_leaves_the_directory_free_for_the_next_one(tmp_path):
    """A run refused for bad input writes nothing, so a correct run into the same --out
    is not told that the directory 'already holds a training run'."""
    out = tmp_path / "out"
    short = write(tmp_path, "six.txt", "hello\n")
    refused(
        elman("train", "--train", short, "--batch", "32", "--epochs", "1", "--out", out),
        "too few for --batch 32",
    )
    assert not out.exists()
    out.mkdir()  # an empty directory that exists is as free as one that does not
    refused(elman("train", "--train", short, "--lr", "inf", "--epochs", "1", "--out", out), "--lr")
    assert list(out.iterdir()) == []
    text = write(tmp_path, "t.txt", FOX * 6)
    ok(elman("train", "--train", text, "--out", out, "--max-steps", "2", *TINY))
    assert (out / "model.safetensors").is_file()


@pytest.mark.parametrize(
    "limit", [["--max-steps", "2"], ["--max-steps", "5"], ["--max-minutes", "0.0001"]]
)
def test_resuming_a_run_at_or_past_its_limit_changes_nothing(run, limit):
    out, _ = run
    before = files_of(out)
    result = elman("train", "--resume", out, *limit)
    assert result.returncode == 0, result.stderr
    assert "nothing to do" in result.stdout
    assert files_of(out) == before


def test_resuming_a_finished_run_adds_no_epoch_record(tmp_path):
    text = write(tmp_path, "train.txt", FOX * 6)
    out = tmp_path / "run"
    ok(elman("train", "--train", text, "--valid", text, "--out", out, "--epochs", "2", *TINY))
    before = files_of(out)
    result = elman("train", "--resume", out)
    assert result.returncode == 0, result.stderr
    assert "has already finished its 2 epochs; nothing to do" in result.stdout
    assert files_of(out) == before
    epochs = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in epochs if r["event"] == "epoch"] == [1, 2]


def test_a_run_stopped_at_an_epoch_end_resumes_with_the_next_epoch(tmp_path):
    """Stopped by --max-steps exactly at the end of epoch 1 (10 chunks), then resumed: the
    epoch is not validated twice, and the records and weights are an unbroken run's."""
    text = write(tmp_path, "train.txt", FOX * 6)  # 606 characters: 10 chunks of 4 x 16
    common = ["--train", text, "--valid", text, *TINY, "--epochs", "2"]
    ok(elman("train", *common, "--out", tmp_path / "whole"))
    ok(elman("train", *common, "--out", tmp_path / "cut", "--max-steps", "10"))
    ok(elman("train", "--resume", tmp_path / "cut", "--max-steps", "0"))

    def epochs(out):
        records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        return [(r["epoch"], r["step"]) for r in records if r["event"] == "epoch"]

    assert epochs(tmp_path / "cut") == epochs(tmp_path / "whole") == [(1, 10), (2, 20)]
    weights = [
        safetensors.numpy.load_file(d / "model.safetensors")
        for d in (tmp_path / "whole", tmp_path / "cut")
    ]
    assert all(weights[0][k].tobytes() == weights[1][k].tobytes() for k in weights[0])


def test_a_directory_in_use_by_another_run_is_refused(run, tmp_path):
    """Another process holds the run directory's lock (as a training run does): a new
    run, an --overwrite and a --resume into it are refused, and nothing is written."""
    out, text = run
    before = files_of(out)
    fd = os.open(out, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        message = "another elman process is training in"
        new = ["train", "--train", text, "--max-steps", "2", "--out", out, *TINY]
        refused(elman(*new, "--overwrite"), message)
        refused(elman("train", "--resume", out, "--max-steps", "8"), message)
    finally:
        os.close(fd)
    assert files_of(out) == before
    ok(elman("train", "--resume", out, "--max-steps", "8"))  # the lock died with its holder


def test_classify_and_tag_overwrite_with_a_typo_keep_the_old_run(tmp_path):
    labelled = write(
        tmp_path, "sms.tsv", "".join(f"ham\thello {i}\nspam\tWIN {i}!!\n" for i in range(20))
    )
    tagged = write(tmp_path, "pos.tsv", "".join(f"the\tDET\ndog {i}\tNOUN\n\n" for i in range(20)))
    small = ["--embed", "8", "--hidden", "8", "--epochs", "1"]
    for command, data_flag, data, typo in (
        ("classify", "--data", labelled, "smss.tsv"),
        ("tag", "--train", tagged, "poss.tsv"),
    ):
        out = tmp_path / command
        ok(elman(command, "train", data_flag, data, "--out", out, *small))
        before = files_of(out)
        again = [command, "train", data_flag, tmp_path / typo, "--out", out, "--overwrite"]
        refused(elman(*again, *small), f"{typo} does not exist")
        assert files_of(out) == before


def test_tag_refuses_a_nan_word_dropout(tmp_path):
    tagged = write(tmp_path, "pos.tsv", "the\tDET\ndog\tNOUN\n\n")
    result = elman(
        "tag", "train", "--train", tagged, "--word-dropout", "nan", "--out", tmp_path / "o"
    )
    refused(result, "--word-dropout must be a finite number, got nan")
    assert not (tmp_path / "o").exists()


def test_tag_predict_answers_a_blank_line_with_an_empty_sentence(tmp_path):
    tagged = write(tmp_path, "pos.tsv", "".join("the\tDET\ndog\tNOUN\n\n" for _ in range(10)))
    out = tmp_path / "tagger"
    ok(elman("tag", "train", "--train", tagged, "--out", out, "--epochs", "1", "--hidden", "8"))
    text = ok(elman("tag", "predict", "--model", out, stdin="the dog\n\na dog\n"))
    # Each sentence is its words and tags, then a blank line; the empty one is only that.
    words = [row.split("\t")[0] for row in text.splitlines()]
    assert words == ["the", "dog", "", "", "a", "dog", ""]
    rows = ok(elman("tag", "predict", "--model", out, "--json", stdin="dog\n\n")).splitlines()
    assert json.loads(rows[0])["words"] == ["dog"] and rows[1] == ""


@pytest.mark.parametrize("command", ["generate", "score"])
def test_a_reader_that_stops_early_ends_the_command_quietly(run, command):
    """`elman generate ... | head`: when the reader closes the pipe, elman stops with no
    message and status 141, as a Unix tool killed by SIGPIPE does."""
    out, text = run
    args = {
        "generate": ["generate", "--model", out, "--length", "1000000"],
        "score": ["score", "--model", out, text],
    }[command]
    process = subprocess.Popen(
        [sys.executable, "-m", "elman", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    process.stdout.read(10)
    process.stdout.close()
    assert process.wait(timeout=60) == 141
    assert process.stderr.read() == b""


def test_a_perplexity_too_large_for_a_float_is_inf_and_json_null(run, tmp_path):
    """A model that scores a text at over 709.8 nats per token: eval prints `inf` and
    writes null in strict JSON, score likewise, with no OverflowError."""
    out, text = run
    saved = lm_checkpoint.load(out)
    saved.model.params["output.W"][...] *= 1e6  # wildly confident, and wrong
    lm_checkpoint.save(out, saved.model, saved.tokenizer, saved.train_config, saved.info)
    printed = ok(elman("eval", "--model", out, "--data", text))
    assert "perplexity     inf" in printed
    result = json.loads(ok(elman("eval", "--model", out, "--data", text, "--json")))
    assert result["perplexity"] is None and result["loss"] > 709.8
    (row,) = ok(elman("score", "--model", out, "--json", stdin="the dog\n")).splitlines()
    assert json.loads(row)["perplexity"] is None
    for line in ok(elman("score", "--model", out, stdin="the dog\n")).splitlines()[1:]:
        assert line.split("\t")[1] == "inf"
