"""``elman train --condition label|vector`` and the commands that use such a model
(generate --label/--vector/--count, score --label, eval on labelled lines), in
subprocesses; every mistake one sentence and exit code 2."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.cli.test_lm import elman, ok, write

SENTIMENT = "".join(
    f"pos\tthis is good and {w}\nneg\tthis is bad and {v}\n"
    for w, v in zip(["fun", "nice", "great"] * 20, ["sad", "grim", "dull"] * 20, strict=True)
)
SMALL = ["--embed", "8", "--hidden", "16", "--batch", "8", "--epochs", "3"]


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    d = tmp_path_factory.mktemp("conditioned")
    data = write(d, "sentiment.tsv", SENTIMENT)
    out = d / "run"
    stdout = ok(elman("train", "--data", data, "--condition", "label", "--out", out, *SMALL))
    return d, data, out, stdout


def test_a_label_conditioned_run_records_its_condition(labelled):
    d, data, out, stdout = labelled
    config = json.loads((out / "config.json").read_text())
    assert config["kind"] == "language-model"
    assert config["condition"]["condition"] == "label" and config["data"]["labels"] == [
        "neg",
        "pos",
    ]
    assert config["model"]["state"] == "reset"  # a condition belongs to a line
    assert "test perplexity" in stdout  # --data was split 70/10/20 as the classifier splits it
    assert "neg\t" in stdout and "pos\t" in stdout  # a sample per label


def test_generate_count_writes_one_sample_per_line(labelled):
    _, _, out, _ = labelled
    text = ok(elman("generate", "--model", out, "--label", "pos", "--count", "4", "--seed", "2"))
    lines = text.split("\n")
    assert len(lines) == 5 and lines[-1] == ""
    again = ok(elman("generate", "--model", out, "--label", "pos", "--count", "4", "--seed", "2"))
    assert again == text


def test_score_and_eval_read_each_line_given_its_label(labelled):
    d, data, out, _ = labelled
    rows = {
        label: json.loads(
            ok(elman("score", "--model", out, "--label", label, "--json", stdin="this is good\n"))
        )
        for label in ("pos", "neg")
    }
    assert rows["pos"]["log_prob"] != rows["neg"]["log_prob"]
    result = json.loads(ok(elman("eval", "--model", out, "--data", data, "--json")))
    # Every line's characters and its line end, each given the line's own label.
    assert result["tokens"] == sum(len(line.split("\t")[1]) + 1 for line in SENTIMENT.splitlines())


def test_a_vector_conditioned_run(tmp_path):
    text = "".join(f"{'ab' if i % 2 else 'ba'}\n" for i in range(40))
    train = write(tmp_path, "t.txt", text)
    vectors = tmp_path / "v.npy"
    np.save(vectors, np.eye(2, dtype=np.float32)[np.arange(40) % 2])
    out = tmp_path / "run"
    ok(elman("train", "--train", train, "--vectors", vectors, "--condition", "vector",
             "--out", out, *SMALL))  # fmt: skip
    config = json.loads((out / "config.json").read_text())
    assert config["condition"]["condition_size"] == 2
    one = tmp_path / "one.npy"
    np.save(one, np.array([0.0, 1.0], np.float32))
    assert ok(elman("generate", "--model", out, "--vector", one, "--length", "3")).endswith("\n")
    result = json.loads(ok(elman("eval", "--model", out, "--data", train, "--vectors", vectors,
                                 "--json")))  # fmt: skip
    assert result["tokens"] == len(text)


def refused(result, message):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("elman: error: ") and message in lines[0]


def test_mistakes_are_one_sentence(labelled, tmp_path):
    d, data, out, _ = labelled
    refused(elman("generate", "--model", out, "--label", "meh"), "the label 'meh' was never seen")
    refused(elman("generate", "--model", out), "give --label (one of neg, pos)")
    plain = tmp_path / "plain"
    ok(elman("train", "--train", write(tmp_path, "p.txt", "ab\nba\n" * 20), "--out", plain,
             *SMALL))  # fmt: skip
    refused(elman("generate", "--model", plain, "--label", "pos"), "trained without a condition")
    refused(elman("score", "--model", out, "--vector", data), "reads a label condition")

    text = write(tmp_path, "t.txt", "ab\nba\nab\n")
    three = tmp_path / "three.npy"
    np.save(three, np.ones((3, 2), np.float32))
    two = tmp_path / "two.npy"
    np.save(two, np.ones((2, 2), np.float32))
    common = ["--condition", "vector", *SMALL, "--out", tmp_path / "v"]
    refused(
        elman("train", "--train", text, "--vectors", two, *common), "has 2 rows but the text has 3"
    )
    vector_model = tmp_path / "vm"
    ok(elman("train", "--train", text, "--vectors", three, "--condition", "vector", *SMALL,
             "--out", vector_model))  # fmt: skip
    wide = tmp_path / "wide.npy"
    np.save(wide, np.ones(5, np.float32))
    refused(elman("generate", "--model", vector_model, "--vector", wide), "holds vectors of 5")
    refused(elman("train", "--train", text, "--vectors", three, *SMALL), "add --condition vector")
    refused(elman("train", "--train", text, "--condition", "vector", *SMALL), "go together")
    pickled = tmp_path / "objects.npy"
    np.save(pickled, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    refused(elman("generate", "--model", vector_model, "--vector", pickled), "not a NumPy array")
    assert not (tmp_path / "v").exists()
