"""``elman classify`` end to end on a tiny labelled file: train (with the seeded split),
eval (--split test reproduces the held-out figure, --json), predict; and every user
error ending with exit code 2 and one sentence on stderr. In-process through
``elman.cli.main`` for speed, and once in a subprocess."""

import json

import numpy as np
import pytest

from elman.cli import main
from tests.cli.test_lm import elman, ok, write

TINY = ["--embed", "8", "--hidden", "8", "--batch", "8", "--epochs", "3", "--level", "char"]


def sms_lines(n=60, seed=0):
    """ham: lower-case chatter; spam: shouting with digits. Easy, but not trivial."""
    rng = np.random.default_rng(seed)
    lines = []
    for i in range(n):
        if i % 3 == 0:
            text = "WIN " + "".join(rng.choice(list("0123456789"), 5)) + " CALL NOW"
            lines.append(f"spam\t{text}")
        else:
            text = " ".join(rng.choice(["ok", "see", "you", "later", "lol", "sure"], 4))
            lines.append(f"ham\t{text}")
    return "\n".join(lines) + "\n"


def run(capsys, *args):
    """``elman ARGS`` in-process: (exit code, stdout, stderr)."""
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("classify")
    data = write(d, "sms.tsv", sms_lines())
    out = d / "run"
    code = main(["classify", "train", "--data", str(data), "--out", str(out), *TINY])
    assert code == 0
    return d, data, out


def test_train_writes_a_checkpoint_with_the_split_and_a_test_record(trained):
    _, data, out = trained
    assert {p.name for p in out.iterdir()} == {
        "config.json",
        "vocab.json",
        "model.safetensors",
        "metrics.jsonl",
        "resume.safetensors",  # a classifier's run can be resumed like a language model's
    }
    config = json.loads((out / "config.json").read_text())
    assert config["kind"] == "classifier"
    assert config["data"]["labels"] == ["ham", "spam"]
    assert config["data"]["split"]["test_fraction"] == 0.2
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records if r["event"] == "epoch"] == [1, 2, 3]
    test = records[-1]
    assert test["event"] == "test" and test["total"] == 12  # 20% of 40 ham and 20 spam


def test_eval_split_test_reproduces_the_held_out_figure(trained, capsys):
    _, data, out = trained
    code, stdout, _ = run(
        capsys, "classify", "eval", "--model", out, "--data", data, "--split", "test", "--json"
    )
    assert code == 0
    result = json.loads(stdout)
    test = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert result["accuracy"] == test["accuracy"] and result["macro_f1"] == test["macro_f1"]
    assert result["total"] == 12 and result["split"] == "test"
    assert set(result["classes"]) == {"ham", "spam"}

    code, stdout, _ = run(capsys, "classify", "eval", "--model", out, "--data", data)
    assert code == 0
    assert "60 texts (all)" in stdout and "macro F1" in stdout and "gold \\ predicted" in stdout


def test_predict_prints_a_label_and_probability_per_line(trained, capsys):
    d, _, out = trained
    texts = write(d, "texts.txt", "WIN 12345 CALL NOW\nok see you later\n")
    code, stdout, _ = run(capsys, "classify", "predict", "--model", out, texts)
    assert code == 0
    lines = [line.split("\t") for line in stdout.splitlines()]
    assert [len(parts) for parts in lines] == [3, 3]
    assert all(label in ("ham", "spam") and 0.5 <= float(p) <= 1 for label, p, _ in lines)
    assert lines[1][2] == "ok see you later"


def test_predict_from_stdin_in_a_subprocess(trained):
    _, _, out = trained
    stdout = ok(
        elman("classify", "predict", "--model", out, "--json", stdin="WIN 99999 CALL NOW\n")
    )
    record = json.loads(stdout)
    assert record["label"] in ("ham", "spam") and record["text"] == "WIN 99999 CALL NOW"


def test_separate_validation_and_test_files(tmp_path, capsys):
    train = write(tmp_path, "train.tsv", sms_lines(45, seed=1))
    valid = write(tmp_path, "valid.tsv", sms_lines(9, seed=2))
    test = write(tmp_path, "test.csv", 'label,text\nspam,"WIN 1, CALL"\nham,ok lol\n')
    out = tmp_path / "run"
    args = ["--data", train, "--valid", valid, "--test", test, "--out", out, *TINY]
    code, stdout, _ = run(capsys, "classify", "train", *args, "--pooling", "max")
    assert code == 0 and "45 training texts" in stdout and "2 test" in stdout
    code, _, err = run(
        capsys, "classify", "eval", "--model", out, "--data", train, "--split", "test"
    )
    assert code == 2 and "separate --test file" in err


@pytest.mark.parametrize(
    ("files", "args", "message"),
    [
        ({"bad.tsv": "ham\tok\nspam WIN\n"}, ["--data", "bad.tsv"], r"bad\.tsv line 2 has no tab"),
        (
            {"bad.tsv": "ham\tok\nspam\t \n"},
            ["--data", "bad.tsv"],
            r"bad\.tsv line 2 has label 'spam' but an empty text",
        ),
        ({"empty.tsv": ""}, ["--data", "empty.tsv"], r"empty\.tsv is empty"),
        ({"one.tsv": "ham\ta\nham\tb\n"}, ["--data", "one.tsv"], "at least two labels"),
        (
            {"d.tsv": "ham\ta\n"},
            ["--data", "d.tsv", "--bptt", "5"],
            "unrecognized arguments: --bptt 5; see elman classify train --help",
        ),
        (
            {"d.tsv": "ham\ta\n"},
            ["--data", "d.tsv", "--cutoffs", "5"],
            "unrecognized arguments: --cutoffs 5",
        ),
        (
            {"d.tsv": "ham\ta\n"},
            ["--data", "d.tsv", "--hidden", "0"],
            "--hidden must be a positive integer",
        ),
        ({}, ["--data", "missing.tsv"], r"missing\.tsv does not exist"),
    ],
)
def test_train_errors(tmp_path, capsys, monkeypatch, files, args, message):
    monkeypatch.chdir(tmp_path)
    for name, text in files.items():
        write(tmp_path, name, text)
    code, _, err = run(capsys, "classify", "train", *args, "--out", "run")
    assert code == 2
    assert err.startswith("elman: error: ") and len(err.strip().splitlines()) == 1
    assert pytest.importorskip("re").search(message, err), err


def test_train_help_lists_no_language_model_flag(capsys):
    """A setting the classifier has no use for is not offered at all."""
    with pytest.raises(SystemExit):
        run(capsys, "classify", "train", "--help")
    usage = capsys.readouterr().out
    assert "--hidden" in usage and "--resume" in usage
    for flag in ("--bptt", "--tie", "--state", "--softmax", "--cutoffs", "--div-value"):
        assert flag not in usage, flag


def test_eval_errors(trained, tmp_path, capsys):
    d, data, out = trained
    unknown = write(tmp_path, "u.tsv", "ham\tok\neggs\tspam spam spam\n")
    code, _, err = run(capsys, "classify", "eval", "--model", out, "--data", unknown)
    assert code == 2 and "u.tsv line 2 has label 'eggs', which the model does not know" in err
    other = write(tmp_path, "other.tsv", sms_lines(seed=5))
    code, _, err = run(
        capsys, "classify", "eval", "--model", out, "--data", other, "--split", "test"
    )
    assert code == 2 and "is not the data the model was split from" in err
    code, _, err = run(capsys, "classify", "eval", "--model", d, "--data", data)
    assert code == 2 and "is not an elman checkpoint" in err


def test_predict_answers_a_blank_line_with_a_blank_line(trained, tmp_path, capsys):
    _, _, out = trained
    blank = write(tmp_path, "blank.txt", "hello\n\nworld\n")
    code, stdout, _ = run(capsys, "classify", "predict", "--model", out, blank)
    rows = stdout.splitlines()
    assert code == 0 and len(rows) == 3 and rows[1] == ""
    assert rows[0].endswith("\thello") and rows[2].endswith("\tworld")
    code, stdout, _ = run(capsys, "classify", "predict", "--model", out, "--json", blank)
    rows = stdout.splitlines()
    assert code == 0 and rows[1] == "" and json.loads(rows[2])["text"] == "world"


def test_wrong_kind_of_checkpoint_is_refused(trained, tmp_path, capsys):
    _, data, out = trained
    code, _, err = run(capsys, "eval", "--model", out, "--data", data)
    assert code == 2 and "holds a classifier checkpoint, not a language-model" in err
    code, _, err = run(capsys, "tag", "eval", "--model", out, "--data", data)
    assert code == 2 and "holds a classifier checkpoint, not a tagger" in err


def test_init_from_a_language_model(tmp_path, capsys):
    """Pre-train a character LM on the texts, fine-tune a classifier from it."""
    lines = sms_lines(30)
    text = write(
        tmp_path, "text.txt", "".join(line.split("\t")[1] + "\n" for line in lines.splitlines())
    )
    data = write(tmp_path, "d.tsv", lines)
    lm = tmp_path / "lm"
    lm_args = ["--embed", "8", "--hidden", "8", "--cell", "gru", "--epochs", "1", "--batch", "4"]
    code, _, _ = run(capsys, "train", "--train", text, "--out", lm, *lm_args)
    assert code == 0
    args = ["--data", data, "--init", lm, "--out", tmp_path / "c", "--epochs", "1", "--batch", "8"]
    code, stdout, _ = run(capsys, "classify", "train", *args)
    assert code == 0 and "initialised 5 tensors from the language model" in stdout
    config = json.loads((tmp_path / "c" / "config.json").read_text())
    assert config["model"]["hidden"] == 8 and config["tokenizer"]["level"] == "char"
    code, _, err = run(capsys, "classify", "train", *args, "--overwrite", "--level", "word")
    assert code == 2 and "char-level language model" in err and "drop --level word" in err
