"""``elman tag`` end to end on tiny treebanks (CoNLL-U and two-column): train, eval
(--json), predict, Korean included; and every user error ending with exit code 2 and
one sentence on stderr."""

import json
import re

import pytest

from elman.cli import main
from tests.cli.test_classify import run
from tests.cli.test_lm import elman, ok, write

TINY = [
    "--embed",
    "8",
    "--hidden",
    "8",
    "--char-embed",
    "4",
    "--char-hidden",
    "4",
    "--batch",
    "4",
    "--epochs",
    "3",
]
SENTENCES = [
    [("the", "DET"), ("dog", "NOUN"), ("barks", "VERB"), (".", "PUNCT")],
    [("a", "DET"), ("cat", "NOUN"), ("sleeps", "VERB")],
    [("dogs", "NOUN"), ("bark", "VERB"), ("loudly", "ADV"), (".", "PUNCT")],
    [("고양이가", "NOUN"), ("잔다", "VERB"), (".", "PUNCT")],
]


def conllu(sentences, multiword=False):
    blocks = []
    for i, sentence in enumerate(sentences):
        written = " ".join(w for w, _ in sentence).replace(" .", ".")  # as a person writes
        lines = [f"# sent_id = {i}", f"# text = {written}"]
        if multiword:
            lines.append(f"1-2\t{sentence[0][0]}{sentence[1][0]}\t_\t_\t_\t_\t_\t_\t_\t_")
        for j, (word, tag) in enumerate(sentence, start=1):
            lines.append(f"{j}\t{word}\t{word.lower()}\t{tag}\tX{tag}\t_\t0\tdep\t_\t_")
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


def two_column(sentences):
    return "\n".join("".join(f"{w}\t{t}\n" for w, t in s) for s in sentences)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("tag")
    train = write(d, "train.conllu", conllu(SENTENCES * 4, multiword=True))
    dev = write(d, "dev.conllu", conllu(SENTENCES[:2]))
    test = write(d, "test.tsv", two_column([[("the", "DET"), ("zebra", "NOUN")]]))
    out = d / "run"
    code = main(
        [
            "tag",
            "train",
            "--train",
            str(train),
            "--valid",
            str(dev),
            "--test",
            str(test),
            "--out",
            str(out),
            *TINY,
        ]
    )
    assert code == 0
    return d, train, test, out


def test_train_writes_a_tagger_checkpoint(trained):
    _, _, _, out = trained
    config = json.loads((out / "config.json").read_text())
    assert config["kind"] == "tagger"
    assert config["data"]["tags"] == ["ADV", "DET", "NOUN", "PUNCT", "VERB"]
    assert config["tagger"]["split"] == "punctuation"
    # The treebank's sentences as written, not its words with spaces between
    assert config["data"]["examples"] == [{"text": "the dog barks."}, {"text": "a cat sleeps"}]
    chars = json.loads((out / "vocab-chars.json").read_text(encoding="utf-8"))
    assert config["vocabularies"] == {"words": "vocab.json", "chars": "vocab-chars.json"}
    assert "고" in chars["tokens"]
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    test = records[-1]
    assert test["event"] == "test" and test["total"] == 2 and test["oov_words"] == 1


def test_eval_json_and_report(trained, capsys):
    _, train, test, out = trained
    code, stdout, _ = run(capsys, "tag", "eval", "--model", out, "--data", test, "--json")
    assert code == 0
    result = json.loads(stdout)
    assert {"accuracy", "oov_accuracy", "oov_words", "macro_f1", "classes"} <= set(result)
    assert result["oov_words"] == 1  # "zebra"
    code, stdout, _ = run(capsys, "tag", "eval", "--model", out, "--data", train)
    assert code == 0
    assert "16 sentences" in stdout and "no out-of-vocabulary words" in stdout and "NOUN" in stdout


def test_predict_writes_the_two_column_format_eval_reads(trained, tmp_path):
    _, _, _, out = trained
    stdout = ok(elman("tag", "predict", "--model", out, stdin="the dog barks.\n고양이가 잔다\n"))
    blocks = stdout.strip("\n").split("\n\n")
    assert [[line.split("\t")[0] for line in b.splitlines()] for b in blocks] == [
        ["the", "dog", "barks", "."],  # split as the treebank writes words
        ["고양이가", "잔다"],
    ]
    predicted = write(tmp_path, "predicted.tsv", stdout)
    result = json.loads(ok(elman("tag", "eval", "--model", out, "--data", predicted, "--json")))
    assert result["accuracy"] == 1.0  # its own predictions


def test_xpos_column(trained, capsys):
    d, train, _, _ = trained
    out = d / "xpos"
    code, _, _ = run(
        capsys,
        "tag",
        "train",
        "--train",
        train,
        "--out",
        out,
        "--tag-column",
        "xpos",
        "--no-chars",
        *TINY,
    )
    assert code == 0
    config = json.loads((out / "config.json").read_text())
    assert config["data"]["tags"][0] == "XADV" and config["tagger"]["chars"] is False


@pytest.mark.parametrize(
    ("name", "text", "args", "message"),
    [
        (
            "bad.conllu",
            "1\tdog\tNOUN\n",
            [],
            r"bad\.conllu line 1 has 3 tab-separated columns, expected 10",
        ),
        ("bad.tsv", "dog\tNOUN\ncat NOUN\n", [], r"bad\.tsv line 2 is not token<TAB>tag"),
        ("empty.conllu", "", [], r"empty\.conllu is empty"),
        ("ok.tsv", "dog\tNOUN\n", ["--level", "char"], "unrecognized arguments: --level char"),
        (
            "ok.tsv",
            "dog\tNOUN\n",
            ["--softmax", "adaptive"],
            "unrecognized arguments: --softmax adaptive; see elman tag train --help",
        ),
        (
            "ok.tsv",
            "dog\tNOUN\n",
            ["--char-hidden", "0"],
            "--char-hidden must be a positive integer",
        ),
    ],
)
def test_train_errors(tmp_path, capsys, name, text, args, message):
    data = write(tmp_path, name, text)
    code, _, err = run(capsys, "tag", "train", "--train", data, "--out", tmp_path / "run", *args)
    assert code == 2 and err.startswith("elman: error: ") and len(err.strip().splitlines()) == 1
    assert re.search(message, err), err


def test_eval_errors(trained, tmp_path, capsys):
    _, train, _, out = trained
    unknown = write(tmp_path, "u.tsv", "dog\tNOUN\n\ncat\tINTJ\n")
    code, _, err = run(capsys, "tag", "eval", "--model", out, "--data", unknown)
    assert code == 2 and "u.tsv line 3: tag 'INTJ' is not one the model was trained on" in err
    code, _, err = run(capsys, "classify", "eval", "--model", out, "--data", train)
    assert code == 2 and "holds a tagger checkpoint, not a classifier" in err
    code, _, err = run(capsys, "tag", "train", "--train", train, "--out", out)
    assert code == 2 and "already holds a training run" in err
