"""The ``elman`` command end to end, in a subprocess, on tiny corpora: what it writes and
prints compared with the files' contents and with each other, and every user error
ending with exit code 2 and one line on stderr."""

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy

from elman.lm import checkpoint

FOX = (
    "the quick brown fox jumps over the lazy dog\n"
    "the dog sleeps in the sun\n"
    "a quick fox runs over the hill\n"
)
KOREAN = "안녕하세요, 세계!\n한국어 문장입니다.\n오늘은 날씨가 좋습니다.\n"
# Small and quick: a run takes well under a second.
TINY = ["--embed", "8", "--hidden", "16", "--batch", "4", "--bptt", "16", "--log-every", "5"]


def elman(*args, stdin: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m elman ARGS`` and capture its output as UTF-8 text."""
    return subprocess.run(
        [sys.executable, "-m", "elman", *map(str, args)],
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        env={**os.environ, "PYTHONUTF8": "1"},  # Korean in argv and stdout on any locale
        cwd=cwd,
        timeout=120,
    )


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def char_run(tmp_path_factory):
    """A character model trained for 2 epochs with validation and test text."""
    d = tmp_path_factory.mktemp("char")
    files = {
        "train": write(d, "train.txt", FOX * 8),
        "valid": write(d, "valid.txt", "the lazy fox sleeps over the dog\n"),
        "test": write(d, "test.txt", "a quick brown dog runs\nthe sun\n"),
    }
    out = d / "ckpt"
    data = ["--train", files["train"], "--valid", files["valid"], "--test", files["test"]]
    result = elman("train", *data, "--out", out, "--epochs", "2", *TINY, cwd=d)
    return out, files, result


def test_train_writes_a_checkpoint_and_reports(char_run):
    out, files, result = char_run
    stdout = ok(result)
    assert sorted(os.listdir(out)) == [
        "config.json",
        "metrics.jsonl",
        "model.safetensors",
        "resume.safetensors",
        "vocab.json",
    ]
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    epochs = [r for r in records if r["event"] == "epoch"]
    assert [r["epoch"] for r in epochs] == [1, 2]
    assert all(r["valid_ppl"] == pytest.approx(math.exp(r["valid_loss"])) for r in epochs)
    assert records[-1]["event"] == "test"
    test_record = records[-1]
    assert test_record["tokens"] == len(files["test"].read_text()) - 1
    assert f"test perplexity {test_record['perplexity']:.2f} " in stdout
    sample = stdout.split("sample:\n", 1)[1].split(f"\nsaved to {out}")[0]
    assert len(sample) == 300 + 1  # 300 characters and print's newline


def test_eval_reproduces_the_test_perplexity_of_training(char_run):
    """eval --json prints one JSON object; the saved checkpoint scores the test text
    exactly as the trained model did at the end of `elman train`."""
    out, files, _ = char_run
    stdout = ok(elman("eval", "--model", out, "--data", files["test"], "--json"))
    assert len(stdout.splitlines()) == 1
    result = json.loads(stdout)
    assert result["tokens"] == len(files["test"].read_text()) - 1
    assert result["unknown"] == 0
    assert result["perplexity"] == pytest.approx(math.exp(result["loss"]), rel=1e-12)
    records = (out / "metrics.jsonl").read_text().splitlines()
    assert result["perplexity"] == pytest.approx(json.loads(records[-1])["perplexity"], rel=1e-9)

    text = ok(elman("eval", "--model", out, "--data", files["test"], "--batch", "1"))
    assert text.startswith("perplexity ")
    assert f"tokens scored  {result['tokens']} " in text


def test_eval_dynamic_reports_both_figures(char_run):
    """--dynamic-lr adds the dynamic figure over the same tokens; --dynamic-tune picks
    the rate on another text and says which rates it tried."""
    out, files, _ = char_run
    args = ["eval", "--model", out, "--data", files["test"], "--json"]
    static = json.loads(ok(elman(*args)))
    fixed = json.loads(ok(elman(*args, "--dynamic-lr", "0.3")))
    assert {k: v for k, v in fixed.items() if k != "dynamic"} == static
    assert fixed["dynamic"]["tokens"] == static["tokens"]
    assert fixed["dynamic"]["lr"] == 0.3
    assert fixed["dynamic"]["perplexity"] != static["perplexity"]

    tuned = json.loads(ok(elman(*args, "--dynamic-tune", files["valid"])))["dynamic"]
    assert tuned["tuned_on"] == str(files["valid"])
    tried = {float(lr): ppl for lr, ppl in tuned["tried"].items()}
    assert tuned["lr"] in tried
    assert tried[tuned["lr"]] == min(p for p in tried.values() if p is not None)

    text = ok(elman(*args[:-1], "--dynamic-lr", "0.3"))
    assert "(one stream, an update every 16 tokens, lr 0.3, decay 0):\nperplexity  " in text
    shorter = json.loads(ok(elman(*args, "--dynamic-lr", "0.3", "--dynamic-bptt", "3")))
    assert shorter["dynamic"]["bptt"] == 3
    assert shorter["dynamic"]["tokens"] == static["tokens"]
    assert shorter["dynamic"]["perplexity"] != fixed["dynamic"]["perplexity"]


def test_generate_is_reproducible_and_continues_the_prompt(char_run):
    out = char_run[0]
    args = ["generate", "--model", out, "--prompt", "the qu", "--length", "50"]
    first = ok(elman(*args, "--seed", "3"))
    assert first == ok(elman(*args, "--seed", "3"))
    assert first.startswith("the qu")
    assert len(first) == len("the qu") + 50 + 1  # 50 characters and the final newline
    greedy = ok(elman(*args, "--temperature", "0", "--seed", "1"))
    assert greedy == ok(elman(*args, "--temperature", "0", "--seed", "2"))  # seed unused
    assert greedy.startswith("the qu") and len(greedy) == len(first)


def test_score_prints_one_row_per_line(char_run, tmp_path):
    """One row per input line; a blank line is answered with a blank row, so the output
    stays aligned with the input, in text and in JSON."""
    out = char_run[0]
    lines = ["the quick dog", "", "a fox"]
    path = write(tmp_path, "lines.txt", "\n".join(lines) + "\n")
    from_file = ok(elman("score", "--model", out, path)).splitlines()
    from_stdin = ok(elman("score", "--model", out, stdin="\n".join(lines) + "\n")).splitlines()
    assert from_file == from_stdin
    assert from_file[0] == "log_prob\tperplexity\ttokens\ttext"
    assert len(from_file) == 1 + len(lines)
    assert from_file[2] == ""
    scored = [from_file[1], from_file[3]]
    assert [row.split("\t")[3] for row in scored] == ["the quick dog", "a fox"]
    assert [int(row.split("\t")[2]) for row in scored] == [14, 6]  # with the "\n"

    rows = ok(elman("score", "--model", out, "--json", path)).splitlines()
    assert len(rows) == len(lines) and rows[1] == ""
    scores = [json.loads(rows[0]), json.loads(rows[2])]
    assert [s["text"] for s in scores] == ["the quick dog", "a fox"]
    for s, row in zip(scores, scored, strict=True):
        assert s["tokens"] == len(s["text"]) + 1
        assert s["log_prob"] < 0
        assert s["perplexity"] == pytest.approx(math.exp(-s["log_prob"] / s["tokens"]))
        assert row.startswith(f"{s['log_prob']:.4f}\t{s['perplexity']:.3f}\t")


def test_score_splits_lines_at_newlines_only(char_run, tmp_path):
    """A form feed inside a line is an ordinary (here unknown) character: two lines in,
    two rows out."""
    path = write(tmp_path, "lines.txt", "the dog\x0cthe fox\na fox\n")
    rows = ok(elman("score", "--model", char_run[0], "--json", path)).splitlines()
    assert [json.loads(row)["text"] for row in rows] == ["the dog\x0cthe fox", "a fox"]


def test_word_level(tmp_path):
    train_file = write(tmp_path, "train.txt", FOX * 8)
    test_file = write(tmp_path, "test.txt", "the quick dog sleeps\nthe zebra runs\n")
    out = tmp_path / "words"
    args = ["--train", train_file, "--level", "word", "--max-steps", "20", "--out", out]
    ok(elman("train", *args, *TINY))
    assert json.loads((out / "vocab.json").read_text())["level"] == "word"

    result = json.loads(ok(elman("eval", "--model", out, "--data", test_file, "--json")))
    assert result["tokens"] == 4 + 1 + 3 + 1 - 1  # words and <eos> of both lines, minus 1
    assert result["unknown"] == 1  # zebra

    text = ok(elman("generate", "--model", out, "--prompt", "the quick", "--length", "12"))
    assert text.startswith("the quick")
    # 12 tokens: each a word or an <eos>, which prints as a newline (the last one is print's)
    assert len(text.split()) == 2 + 12 - (text.count("\n") - 1)

    scored = ok(elman("score", "--model", out, "--json", stdin="the lazy dog\n"))
    (s,) = [json.loads(row) for row in scored.splitlines()]
    assert s["text"] == "the lazy dog" and s["tokens"] == 4  # three words and <eos>


def test_korean_character_model(tmp_path):
    train_file = write(tmp_path, "train.txt", KOREAN * 6)
    out = tmp_path / "korean"
    stdout = ok(elman("train", "--train", train_file, "--out", out, "--epochs", "2", *TINY))
    assert "sample:" in stdout
    vocab = json.loads((out / "vocab.json").read_text(encoding="utf-8"))
    assert "한" in vocab["tokens"]
    args = ["generate", "--model", out, "--prompt", "한국어", "--length", "20", "--seed", "3"]
    text = ok(elman(*args))
    assert text.startswith("한국어") and len(text) == 3 + 20 + 1
    assert text == ok(elman(*args))


# User errors. Each case makes its files under tmp_path (``ckpt`` is a copy of the
# trained checkpoint it may damage) and returns the command's arguments and a part
# of the expected message.


def edit_json(path: Path, edit) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    edit(data)
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def missing_train_file(tmp, ckpt):
    return ["train", "--train", tmp / "nope.txt", "--epochs", "1"], "nope.txt does not exist"


def empty_train_file(tmp, ckpt):
    return ["train", "--train", write(tmp, "e.txt", ""), "--epochs", "1"], "is empty"


def invalid_utf8(tmp, ckpt):
    (tmp / "latin1.txt").write_bytes("café\n".encode("latin-1"))
    return ["train", "--train", tmp / "latin1.txt", "--epochs", "1"], "not valid UTF-8"


def too_short_for_a_batch(tmp, ckpt):
    args = ["train", "--train", write(tmp, "short.txt", "hello"), "--batch", "32", "--epochs", "1"]
    return args, "5 tokens, too few for --batch 32"


def never_stops(tmp, ckpt):
    return ["train", "--train", write(tmp, "t.txt", FOX)], "training would never stop"


def hidden_zero(tmp, ckpt):
    args = ["train", "--train", write(tmp, "t.txt", FOX), "--hidden", "0", "--epochs", "1"]
    return args, "--hidden must be a positive integer, got 0"


def batch_zero(tmp, ckpt):
    args = ["train", "--train", write(tmp, "t.txt", FOX), "--batch", "0", "--epochs", "1"]
    return args, "--batch must be a positive integer, got 0"


def one_token_valid(tmp, ckpt):
    args = ["train", "--train", write(tmp, "t.txt", FOX), "--valid", write(tmp, "v.txt", "t")]
    return [*args, "--epochs", "1"], "validation text has fewer than two tokens"


def unknown_prompt_characters(tmp, ckpt):
    return ["generate", "--model", ckpt, "--prompt", "the ☃"], r"vocabulary lacks ('☃')"


def negative_length(tmp, ckpt):
    return ["generate", "--model", ckpt, "--prompt", "the", "--length", "-1"], "--length"


def nan_temperature(tmp, ckpt):
    return ["generate", "--model", ckpt, "--temperature", "nan"], "--temperature must be a finite"


def model_not_a_checkpoint(tmp, ckpt):
    return ["generate", "--model", tmp], "(it has no config.json)"


def model_is_a_file(tmp, ckpt):
    return ["eval", "--model", ckpt / "vocab.json", "--data", ckpt / "vocab.json"], "not a dir"


def eval_missing_data(tmp, ckpt):
    return ["eval", "--model", ckpt, "--data", tmp / "nope.txt"], "nope.txt does not exist"


def score_missing_file(tmp, ckpt):
    return ["score", "--model", ckpt, tmp / "nope.txt"], "nope.txt does not exist"


def newer_format_version(tmp, ckpt):
    edit_json(ckpt / "config.json", lambda c: c.update(format_version=99))
    return ["generate", "--model", ckpt], "format version 99"


def truncated_weights(tmp, ckpt):
    path = ckpt / "model.safetensors"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return ["generate", "--model", ckpt], "model.safetensors is damaged: its content does not"


def vocab_token_removed(tmp, ckpt):
    edit_json(ckpt / "vocab.json", lambda v: v["tokens"].remove("q"))
    return ["score", "--model", ckpt], "vocab.json is damaged: its content does not match"


def binary_file(tmp, ckpt):
    (tmp / "data.bin").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    return ["train", "--train", tmp / "data.bin", "--epochs", "1"], "looks binary"


def negative_size(tmp, ckpt):
    args = ["train", "--train", write(tmp, "t.txt", FOX), "--embed", "-3", "--epochs", "1"]
    return args, "--embed must be a positive integer, got -3"


def tensors_do_not_match_config(tmp, ckpt):
    edit_json(ckpt / "config.json", lambda c: c["model"].update(hidden=c["model"]["hidden"] + 1))
    return ["eval", "--model", ckpt, "--data", ckpt / "vocab.json"], "expected"


def out_dir_holds_another_run(tmp, ckpt):
    args = ["train", "--train", write(tmp, "t.txt", FOX), "--epochs", "1", "--out", ckpt]
    return args, "already holds a training run; choose another --out"


def unknown_recipe(tmp, ckpt):
    return ["train", "--recipe", "ptb-gpt", "--epochs", "1"], "there is no recipe 'ptb-gpt'"


def recipe_without_data(tmp, ckpt):
    return ["train", "--recipe", "ptb-lstm-small", "--epochs", "1"], "needs --data DIR"


def data_directory_lacks_files(tmp, ckpt):
    write(tmp, "train.txt", FOX)
    args = ["train", "--data", tmp, "--epochs", "1"]
    return args, "valid.txt, test.txt are missing"


def data_and_train(tmp, ckpt):
    args = ["train", "--data", write(tmp, "t.txt", FOX), "--train", write(tmp, "u.txt", FOX)]
    return [*args, "--epochs", "1"], "--data replaces --train, --valid and --test"


def dynamic_rate_and_tuning(tmp, ckpt):
    args = ["eval", "--model", ckpt, "--data", ckpt / "vocab.json", "--dynamic-lr", "1"]
    return [*args, "--dynamic-tune", ckpt / "vocab.json"], "--dynamic-lr or --dynamic-tune"


def dynamic_rate_zero(tmp, ckpt):
    args = ["eval", "--model", ckpt, "--data", ckpt / "vocab.json", "--dynamic-lr", "0"]
    return args, "--dynamic-lr must be positive, got 0.0"


def data_does_not_exist(tmp, ckpt):
    return ["train", "--data", tmp / "nowhere", "--epochs", "1"], "nowhere does not exist"


# Robustness (issue 15): mistakes that used to lose a run, leave a wrong one behind, or end
# in a traceback.


def overwrite_with_a_typo(tmp, ckpt):
    args = ["train", "--train", tmp / "trian.txt", "--epochs", "1", "--out", ckpt, "--overwrite"]
    return args, "trian.txt does not exist"


def overwrite_with_a_binary_file(tmp, ckpt):
    (tmp / "data.bin").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    args = ["train", "--train", tmp / "data.bin", "--epochs", "1", "--out", ckpt, "--overwrite"]
    return args, "looks binary"


def overwrite_with_a_corpus_too_short(tmp, ckpt):
    short = write(tmp, "six.txt", "hello\n")
    args = ["train", "--train", short, "--batch", "32", "--epochs", "1", "--out", ckpt]
    return [*args, "--overwrite"], "6 tokens, too few for --batch 32"


def batch_larger_than_any_corpus(tmp, ckpt):
    args = ["train", "--train", write(tmp, "t.txt", FOX), "--batch", "100000", "--epochs", "1"]
    return args, "too few for --batch 100000"


def infinite_learning_rate(tmp, ckpt):
    args = ["train", "--train", write(tmp, "t.txt", FOX), "--lr", "inf", "--epochs", "1"]
    return args, "--lr must be a finite number, got inf"


def nan_settings(flag):
    def case(tmp, ckpt):
        args = ["train", "--train", write(tmp, "t.txt", FOX), flag, "nan", "--epochs", "1"]
        return args, f"{flag} must be a finite number, got nan"

    case.__name__ = f"nan_{flag[2:].replace('-', '_')}"
    return case


def negative_seed(tmp, ckpt):
    args = ["train", "--train", write(tmp, "t.txt", FOX), "--seed", "-1", "--epochs", "1"]
    return args, "--seed must be zero or positive, got -1"


def negative_threads(tmp, ckpt):
    args = ["train", "--train", write(tmp, "t.txt", FOX), "--threads", "-1", "--epochs", "1"]
    return args, "--threads must be zero or positive, got -1"


def negative_seed_to_generate(tmp, ckpt):
    return ["generate", "--model", ckpt, "--seed", "-1"], "--seed must be zero or positive, got -1"


def infinite_temperature(tmp, ckpt):
    return ["generate", "--model", ckpt, "--temperature", "inf"], "--temperature must be a finite"


def a_model_too_large_for_memory(tmp, ckpt):
    args = ["train", "--train", write(tmp, "t.txt", FOX), "--hidden", "1000000", "--epochs", "1"]
    return args, "GiB of memory, but"


def dynamic_rate_that_overflows(tmp, ckpt):
    args = ["eval", "--model", ckpt, "--data", write(tmp, "t.txt", FOX), "--dynamic-lr", "1e30"]
    return args, "dynamic evaluation diverged"


def dynamic_tuning_on_the_scored_text(tmp, ckpt):
    text = write(tmp, "t.txt", FOX)
    args = ["eval", "--model", ckpt, "--data", text, "--dynamic-tune", text]
    return args, "is the text being scored"


@pytest.mark.parametrize(
    "case",
    [
        overwrite_with_a_typo,
        overwrite_with_a_binary_file,
        overwrite_with_a_corpus_too_short,
        batch_larger_than_any_corpus,
        infinite_learning_rate,
        *(nan_settings(flag) for flag in ("--lr", "--clip", "--max-minutes", "--lr-decay")),
        negative_seed,
        negative_threads,
        negative_seed_to_generate,
        infinite_temperature,
        a_model_too_large_for_memory,
        dynamic_rate_that_overflows,
        dynamic_tuning_on_the_scored_text,
        unknown_recipe,
        recipe_without_data,
        data_directory_lacks_files,
        data_and_train,
        data_does_not_exist,
        dynamic_rate_and_tuning,
        dynamic_rate_zero,
        binary_file,
        negative_size,
        tensors_do_not_match_config,
        out_dir_holds_another_run,
        missing_train_file,
        empty_train_file,
        invalid_utf8,
        too_short_for_a_batch,
        never_stops,
        hidden_zero,
        batch_zero,
        one_token_valid,
        unknown_prompt_characters,
        negative_length,
        nan_temperature,
        model_not_a_checkpoint,
        model_is_a_file,
        eval_missing_data,
        score_missing_file,
        newer_format_version,
        truncated_weights,
        vocab_token_removed,
    ],
)
def test_user_error_exits_2_with_one_line(case, char_run, tmp_path):
    """The table of bad input in README.md, row by row: one sentence on stderr, exit
    code 2, no traceback, and the checkpoint it was given left as it was."""
    ckpt = tmp_path / "ckpt"
    shutil.copytree(char_run[0], ckpt)
    args, message = case(tmp_path, ckpt)
    before = {p.name: p.read_bytes() for p in ckpt.iterdir()}
    if args[0] == "train":  # a small model, unless the case sets a size after these flags
        args = ["train", *TINY[:4], *args[1:]]
        args += [] if "--out" in args else ["--out", tmp_path / "out"]
    result = elman(*args, stdin="the dog\n", cwd=tmp_path)
    assert {p.name: p.read_bytes() for p in ckpt.iterdir()} == before
    assert not (tmp_path / "out").exists()  # a refused run leaves nothing behind
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("elman: error: ")
    assert message in lines[0]
    if args[0] != "train":  # nothing half-printed before the error
        assert result.stdout == ""


def test_usage_errors_exit_2():
    result = elman("eval", "--model", "somewhere")
    assert result.returncode == 2
    assert "the following arguments are required: --data" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        "elman: error: the following arguments are required: --data; see elman eval --help."
    ]


# Cells, depth, dropout, tying and the state switch from the command line.

CELL_FLAGS = [
    "--cell", "lstm", "--layers", "2", "--dropout", "0.2", "--dropout-kind", "locked",
    "--tie", "--embed", "16", "--hidden", "16", "--state", "reset",
]  # fmt: skip


def test_lstm_tied_locked_dropout_reset_state(tmp_path):
    """train with --cell lstm --layers 2 --dropout 0.2 --dropout-kind locked --tie
    --state reset: config.json holds those settings, the weights hold no output.W, and
    eval, generate and score run on the checkpoint; with the state reset at every line,
    eval's total log-likelihood equals the sum of score's log_prob over the lines."""
    train_file = write(tmp_path, "train.txt", FOX * 4)
    test_text = "the lazy fox\na quick dog runs\n"
    test_file = write(tmp_path, "test.txt", test_text)
    out = tmp_path / "lstm"
    small = ["--batch", "4", "--bptt", "16", "--max-steps", "6"]
    ok(elman("train", "--train", train_file, "--out", out, *CELL_FLAGS, *small))

    model = json.loads((out / "config.json").read_text())["model"]
    expected = {
        "cell": "lstm",
        "layers": 2,
        "dropout": 0.2,
        "dropout_kind": "locked",
        "tie": True,
        "embed": 16,
        "hidden": 16,
        "state": "reset",
    }
    assert {k: model[k] for k in expected} == expected
    assert "bidirectional" not in model  # an encoder's setting, not a language model's
    names = set(safetensors.numpy.load_file(out / "model.safetensors"))
    assert "output.W" not in names and {"embed.W", "rnn.1.W_h", "output.b"} <= names

    result = json.loads(ok(elman("eval", "--model", out, "--data", test_file, "--json")))
    assert result["tokens"] == len(test_text)  # reset: the first character is scored too
    rows = ok(elman("score", "--model", out, "--json", test_file)).splitlines()
    scores = [json.loads(row) for row in rows]
    assert [s["text"] for s in scores] == ["the lazy fox", "a quick dog runs"]
    assert sum(s["tokens"] for s in scores) == result["tokens"]
    assert -result["loss"] * result["tokens"] == pytest.approx(
        sum(s["log_prob"] for s in scores), rel=1e-4
    )

    args = ["generate", "--model", out, "--prompt", "the ", "--length", "20", "--seed", "1"]
    text = ok(elman(*args))
    assert text.startswith("the ") and len(text) == 4 + 20 + 1
    assert text == ok(elman(*args))  # no dropout in generation: reproducible


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--bidirectional"], "unrecognized arguments: --bidirectional; see elman train --help"),
        (["--tie", "--embed", "8", "--hidden", "16"], "set --embed 16 or drop --tie"),
        (["--dropout", "1.5"], "--dropout must be at least 0 and below 1, got 1.5"),
        (
            ["--softmax", "adaptive", "--tie", "--embed", "16", "--hidden", "16"],
            "drop --tie or use --softmax full",
        ),
        (["--softmax", "adaptive", "--cutoffs", "10,5"], "--cutoffs must be increasing"),
        (["--cutoffs", "5"], "add --softmax adaptive or leave them out"),
    ],
)
def test_model_settings_a_language_model_refuses(flags, message, tmp_path):
    """Each exits 2 with one `elman: error:` line saying why, before reading any data
    (the training file does not even exist) and without writing a checkpoint."""
    out = tmp_path / "out"
    result = elman("train", "--train", tmp_path / "nope.txt", "--epochs", "1", "--out", out, *flags)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("elman: error: ")
    assert message in lines[0]
    assert result.stdout == ""
    assert not out.exists()


def test_adaptive_softmax(tmp_path):
    """train --level word --softmax adaptive --cutoffs 4,10: config.json and the weights
    hold the adaptive softmax; `eval --batch 1` gives the perplexity of the full
    distribution computed in-process over the whole text by LanguageModel.logits;
    generate runs; score's log_prob is that of the distribution step() gives. Cutoffs
    beyond the vocabulary are refused once it is known, before anything is written."""
    train_file = write(tmp_path, "train.txt", FOX * 8)
    test_text = "the quick dog sleeps\nthe zebra runs over the hill\n"
    test_file = write(tmp_path, "test.txt", test_text)
    out = tmp_path / "adaptive"
    common = ["--train", train_file, "--level", "word", "--softmax", "adaptive"]
    ok(elman("train", *common, "--cutoffs", "4,10", "--max-steps", "20", "--out", out, *TINY))
    model_config = json.loads((out / "config.json").read_text())["model"]
    assert (model_config["softmax"], model_config["cutoffs"]) == ("adaptive", "4,10")
    names = set(safetensors.numpy.load_file(out / "model.safetensors"))
    assert {"output.head.W", "output.tail.0.proj", "output.tail.1.out"} <= names

    result = json.loads(
        ok(elman("eval", "--model", out, "--data", test_file, "--batch", "1", "--json"))
    )
    ckpt = checkpoint.load(out)
    ids = ckpt.tokenizer.encode(test_text)
    logp = ckpt.model.logits(ids[None, :-1])[0].astype(np.float64)[0]  # (N - 1, V)
    assert np.allclose(np.exp(logp).sum(axis=1), 1, atol=1e-5)
    nll = -logp[np.arange(len(ids) - 1), ids[1:]].mean()
    assert result["tokens"] == len(ids) - 1
    assert result["perplexity"] == pytest.approx(math.exp(nll), rel=1e-5)

    text = ok(elman("generate", "--model", out, "--prompt", "the quick", "--length", "12"))
    assert text.startswith("the quick")

    (row,) = ok(elman("score", "--model", out, "--json", stdin="the lazy dog\n")).splitlines()
    s = json.loads(row)
    line = [ckpt.tokenizer.eos_id, *ckpt.tokenizer.encode("the lazy dog\n")]
    state, expected = ckpt.model.initial_state(1), 0.0
    for token, target in zip(line[:-1], line[1:], strict=True):
        step_logp, state = ckpt.model.step(np.array([token]), state)
        expected += float(step_logp[0, target])
    assert s["tokens"] == 4 and s["log_prob"] == pytest.approx(expected, rel=1e-5)

    refused = elman(
        "train", *common, "--cutoffs", "4,100", "--max-steps", "1", "--out", tmp_path / "x"
    )
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "--cutoffs 4,100 must all be below the vocabulary size 16" in refused.stderr
    assert not (tmp_path / "x").exists()
