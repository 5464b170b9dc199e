"""``elman translate`` end to end on tiny data: train (aligned files, TSV, the book's
question_answer lines with the seeded split), eval (--split test reproduces the held-out
figure, --json), predict (stdin, blank lines, --json, --show-attention), and every bad
input ending with exit code 2 and one sentence on stderr, with nothing written. In-process
through ``elman.cli.main`` for speed, and once in a subprocess."""

from __future__ import annotations

import importlib.util
import json
import re

import pytest

from elman.cli import main
from elman.insight import plots
from tests.cli.test_lm import elman, ok, write

TINY = ["--embed", "8", "--hidden", "8", "--batch", "4", "--epochs", "2", "--beam", "2"]
QUESTIONS = "".join(
    f"{a}+{b}{' ' * (7 - len(f'{a}+{b}'))}_{a + b:<4}\n" for a in range(8) for b in range(5)
)
GERMAN = "ein hund .\nzwei hunde .\nein kleiner hund .\nein großer hund .\n"
ENGLISH = "a dog .\ntwo dogs .\na small dog .\na big dog .\n"


def run(capsys, *args):
    """``elman ARGS`` in-process: (exit code, stdout, stderr)."""
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A character model on the book's format, with its seeded split."""
    d = tmp_path_factory.mktemp("translate")
    data = write(d, "addition.txt", QUESTIONS)
    out = d / "run"
    args = ["--data", data, "--format", "qa", "--level", "char", "--reverse-source"]
    code = main(
        ["translate", "train", *map(str, args), "--test-fraction", "0.2", "--out", str(out), *TINY]
    )
    assert code == 0
    return d, data, out


def test_train_writes_both_vocabularies_the_split_and_a_test_record(trained):
    _, data, out = trained
    assert {p.name for p in out.iterdir()} == {
        "config.json", "vocab.json", "vocab-target.json", "model.safetensors",
        "metrics.jsonl", "resume.safetensors",
    }  # fmt: skip
    config = json.loads((out / "config.json").read_text())
    assert config["kind"] == "translator"
    assert config["vocabularies"] == {"source": "vocab.json", "target": "vocab-target.json"}
    assert config["translate"]["reverse_source"] is True and config["translate"]["format"] == "qa"
    split = config["data"]["split"]
    assert split["sizes"] == [30, 2, 8] and split["seed"] == 0 and split["pairs"] == 40
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    epochs = [r for r in records if r["event"] == "epoch"]
    assert [r["epoch"] for r in epochs] == [1, 2]
    assert {"valid_ppl", "valid_exact", "train_ppl"} <= set(epochs[-1])
    test = records[-1]
    assert test["event"] == "test" and test["sentences"] == 8 and test["beam"] == 2


def test_eval_split_test_reproduces_the_held_out_figures(trained, capsys):
    _, data, out = trained
    code, stdout, _ = run(
        capsys, "translate", "eval", "--model", out, "--data", data, "--split", "test", "--json"
    )
    assert code == 0
    result = json.loads(stdout)
    test = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    for key in ("exact", "perplexity", "sentences", "bleu", "bleu_tokenize"):
        assert result[key] == test[key], key
    assert result["split"] == "test" and result["bleu_tokenize"] == "13a"
    code, stdout, _ = run(
        capsys, "translate", "eval", "--model", out, "--data", data, "--beam", "1"
    )
    assert code == 0 and stdout.startswith("40 sentences, beam 1: exact ")


def test_predict_answers_each_line_and_blank_lines(trained, tmp_path, capsys):
    _, _, out = trained
    questions = write(tmp_path, "q.txt", "1+2\n\n  7+4  \n")
    code, stdout, _ = run(capsys, "translate", "predict", "--model", out, questions)
    rows = stdout.split("\n")
    assert code == 0 and len(rows) == 4 and rows[1] == "" and rows[3] == ""
    code, stdout, _ = run(capsys, "translate", "predict", "--model", out, "--json", questions)
    records = stdout.splitlines()
    assert code == 0 and records[1] == "" and json.loads(records[2])["source"] == "7+4"
    assert json.loads(records[0])["translation"] == rows[0]


def test_predict_from_stdin_in_a_subprocess(trained):
    _, _, out = trained
    stdout = ok(elman("translate", "predict", "--model", out, "--beam", "1", stdin="3+3\n"))
    assert len(stdout.splitlines()) == 1


@pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None, reason="needs matplotlib")
def test_show_attention_writes_a_heatmap_per_sentence(trained, tmp_path, capsys):
    _, _, out = trained
    questions = write(tmp_path, "q.txt", "1+2\n\n5+5\n")
    pictures = tmp_path / "attention"
    code, _, _ = run(
        capsys, "translate", "predict", "--model", out, "--show-attention", pictures, questions
    )
    assert code == 0
    assert sorted(p.name for p in pictures.iterdir()) == ["line-0001.png", "line-0003.png"]
    assert (pictures / "line-0001.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_show_attention_without_matplotlib_names_the_extra(trained, tmp_path, capsys, monkeypatch):
    _, _, out = trained
    real = importlib.util.find_spec
    monkeypatch.setattr(
        plots.importlib.util, "find_spec", lambda name: None if name == "matplotlib" else real(name)
    )
    questions = write(tmp_path, "q.txt", "1+2\n")
    code, stdout, err = run(
        capsys,
        "translate",
        "predict",
        "--model",
        out,
        "--show-attention",
        tmp_path / "a",
        questions,
    )
    assert code == 2 and stdout == ""
    assert "pip install 'elman[plot]'" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "a").exists()


def test_aligned_files_word_level_and_any_checkpoint_loader(tmp_path, capsys):
    texts = {"de": GERMAN, "en": ENGLISH, "vde": GERMAN[:22], "ven": ENGLISH[:18]}
    files = {name: write(tmp_path, name, text) for name, text in texts.items()}
    out = tmp_path / "run"
    args = ["--source", files["de"], "--target", files["en"], "--valid-source", files["vde"]]
    args += ["--valid-target", files["ven"], "--tokenized", "--attention", "additive"]
    code, stdout, _ = run(capsys, "translate", "train", *args, "--out", out, *TINY)
    assert code == 0 and "4 training pairs, 2 validation, 0 test" in stdout
    code, stdout, _ = run(
        capsys, "translate", "eval", "--model", out, "--source", files["de"], "--target",
        files["en"], "--json",
    )  # fmt: skip
    result = json.loads(stdout)
    assert code == 0 and result["sentences"] == 4 and result["bleu_tokenize"] == "none"
    import elman

    ckpt = elman.load(out)
    assert ckpt.kind == "translator" and ckpt.target.level == "word"
    assert len(elman.translate.translate(ckpt, ["ein hund ."])) == 1


@pytest.mark.parametrize(
    ("files", "args", "message"),
    [
        ({"s": "a\nb\n", "t": "x\n"}, ["--source", "s", "--target", "t"],
         r"^s has 2 lines but t has 1, so they are not line-aligned"),
        ({"s": "a\n\nb\n", "t": "x\ny\nz\n"}, ["--source", "s", "--target", "t"],
         r"^s line 2 is empty"),
        ({"d": "a\tx\nb y\n"}, ["--data", "d"], r"^d line 2 has no tab"),
        ({"d": "1+1 _2\n22\n"}, ["--data", "d", "--format", "qa"], r"^d line 2 has no '_'"),
        ({"s": "a\n", "t": "x\n"}, ["--source", "s"], r"^--target is missing"),
        ({"s": "a\n", "t": "x\n"}, ["--source", "s", "--target", "t", "--valid-source", "s"],
         r"^--valid-target is missing"),
        ({"s": "a\n", "t": "x\n", "d": "a\tx\n"}, ["--data", "d", "--source", "s", "--target", "t"],
         r"give --data or --source, not both"),
        ({"s": "a\n", "t": "x\n"}, ["--source", "s", "--target", "t", "--format", "qa"],
         r"--format says what a --data line holds"),
        ({}, [], r"give the pairs to train on"),
        ({"s": "a\n", "t": "x\n"}, ["--source", "s", "--target", "t", "--bptt", "5"],
         r"unrecognized arguments: --bptt 5"),
        ({"s": "a\n", "t": "x\n"}, ["--source", "s", "--target", "t", "--recipe", "ptb-rnn"],
         r"the recipe ptb-rnn is for elman train, not elman translate train"),
        ({"s": "a\n", "t": "x\n"},
         ["--source", "s", "--target", "t", "--bidirectional", "--attention", "dot"],
         r"the dot score compares"),
        ({"s": "a\n", "t": "x\n"}, ["--source", "s", "--target", "t", "--attention", "none",
                                    "--no-bridge"], r"would never read the source"),
    ],
)  # fmt: skip
def test_train_errors(tmp_path, capsys, monkeypatch, files, args, message):
    """One sentence, exit 2, and the --out directory never created."""
    monkeypatch.chdir(tmp_path)
    for name, text in files.items():
        write(tmp_path, name, text)
    code, _, err = run(capsys, "translate", "train", *args, "--out", "run", *TINY)
    assert code == 2 and err.startswith("elman: error: ") and len(err.strip().splitlines()) == 1
    assert re.search(message, err.removeprefix("elman: error: ")), err
    assert not (tmp_path / "run").exists()


def test_eval_and_predict_errors(trained, tmp_path, capsys, monkeypatch):
    d, data, out = trained
    other = write(tmp_path, "other.txt", QUESTIONS.replace("_0", "_9"))
    code, _, err = run(
        capsys, "translate", "eval", "--model", out, "--data", other, "--split", "test"
    )
    assert code == 2 and "is not the data the model was split from" in err
    code, _, err = run(
        capsys, "translate", "eval", "--model", out, "--data", data, "--format", "tsv"
    )
    assert code == 2 and "addition.txt line 1 has no tab" in err
    code, _, err = run(capsys, "eval", "--model", out, "--data", data)
    assert code == 2 and "holds a translator checkpoint, not a language-model" in err
    code, _, err = run(capsys, "translate", "eval", "--model", d, "--data", data)
    assert code == 2 and "is not an elman checkpoint" in err
    monkeypatch.setattr("elman.translate.data.MAX_SOURCE_TOKENS", 5)
    long = write(tmp_path, "long.txt", "1+1\n123+456\n")
    code, stdout, err = run(capsys, "translate", "predict", "--model", out, long)
    assert code == 2 and stdout == ""  # nothing translated before the bad line is found
    assert "long.txt line 2 has 7 characters, more than the 5 a translator reads" in err


def test_a_classifier_checkpoint_is_refused(tmp_path, capsys):
    from tests.cli.test_classify import TINY as CLASSIFY_TINY
    from tests.cli.test_classify import sms_lines

    data = write(tmp_path, "sms.tsv", sms_lines(30))
    assert (
        main(
            ["classify", "train", "--data", str(data), "--out", str(tmp_path / "c"), *CLASSIFY_TINY]
        )
        == 0
    )
    capsys.readouterr()
    code, _, err = run(capsys, "translate", "predict", "--model", tmp_path / "c", data)
    assert code == 2 and "holds a classifier checkpoint, not a translator" in err


def test_overwrite_removes_the_old_runs_target_vocabulary(trained, tmp_path, capsys):
    _, data, _ = trained
    out = tmp_path / "run"
    args = ["translate", "train", "--data", data, "--format", "qa", "--out", out, *TINY]
    assert run(capsys, *args, "--level", "char")[0] == 0
    (out / "vocab-target.json").write_text("stale")
    code, _, err = run(capsys, *args, "--level", "char")
    assert code == 2 and "already holds a training run" in err
    assert run(capsys, *args, "--level", "char", "--overwrite")[0] == 0
    assert json.loads((out / "vocab-target.json").read_text())["level"] == "char"


def test_train_help_offers_the_translators_flags_only(capsys):
    with pytest.raises(SystemExit):
        run(capsys, "translate", "train", "--help")
    usage = capsys.readouterr().out
    for flag in (
        "--attention",
        "--bidirectional",
        "--tie",
        "--reverse-source",
        "--beam",
        "--recipe",
    ):
        assert flag in usage, flag
    for flag in ("--bptt", "--state", "--softmax", "--pooling", "--tag-column"):
        assert flag not in usage, flag
