"""Checkpoints written before the redesign (by commit eefe27f, format version 1: one
vocabulary, the tagger's characters inside config.json, no text normalisation) load
with ``elman.load`` as the right kind and give the figures that version printed:
perplexity, line scores and a generated sample for three language models (a tanh RNN
on characters; a 2-layer LSTM on words with an adaptive softmax; a tied GRU reset at
line ends), a classifier's and a tagger's evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import elman
from tests.cli.test_lm import elman as run_elman
from tests.cli.test_lm import ok

FIXTURES = Path(__file__).parent / "fixtures" / "checkpoints-eefe27f"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text(encoding="utf-8"))
LANGUAGE_MODELS = ["lm-char", "lm-word", "lm-gru-tied"]


@pytest.mark.parametrize(
    ("name", "kind"),
    [*((name, "language-model") for name in LANGUAGE_MODELS), ("classifier", "classifier"),
     ("tagger", "tagger")],
)  # fmt: skip
def test_loads_as_its_kind(name, kind):
    ckpt = elman.load(FIXTURES / name)
    assert ckpt.kind == kind


@pytest.mark.parametrize("name", LANGUAGE_MODELS)
def test_a_language_model_evaluates_scores_and_samples_as_before(name):
    expected = EXPECTED[name]
    model = FIXTURES / name
    result = json.loads(
        ok(run_elman("eval", "--model", model, "--data", FIXTURES / "test.txt", "--json"))
    )
    assert result["tokens"] == expected["eval"]["tokens"]
    assert result["perplexity"] == pytest.approx(expected["eval"]["perplexity"], rel=1e-6)
    rows = ok(run_elman("score", "--model", model, "--json", FIXTURES / "test.txt")).splitlines()
    scores = [json.loads(row) for row in rows if row]
    assert [s["tokens"] for s in scores] == [s["tokens"] for s in expected["score"]]
    for ours, theirs in zip(scores, expected["score"], strict=True):
        assert ours["log_prob"] == pytest.approx(theirs["log_prob"], rel=1e-6)
    sample = ok(run_elman("generate", "--model", model, "--prompt", "the ", "--length", "20",
                          "--seed", "3"))  # fmt: skip
    assert sample == expected["generate"]


def test_a_classifier_evaluates_as_before():
    result = json.loads(ok(run_elman("classify", "eval", "--model", FIXTURES / "classifier",
                                     "--data", FIXTURES / "sms.tsv", "--json")))  # fmt: skip
    expected = EXPECTED["classifier"]["eval"]
    assert result["confusion"] == expected["confusion"]
    assert result["loss"] == pytest.approx(expected["loss"], rel=1e-6)


def test_a_tagger_evaluates_as_before():
    result = json.loads(ok(run_elman("tag", "eval", "--model", FIXTURES / "tagger",
                                     "--data", FIXTURES / "pos.tsv", "--json")))  # fmt: skip
    expected = EXPECTED["tagger"]["eval"]
    assert result["confusion"] == expected["confusion"]
    assert result["loss"] == pytest.approx(expected["loss"], rel=1e-6)


# Checkpoints written by commit a08dc0e (format version 2, before each kind owned its
# settings: every kind's "model" section holds all of ModelConfig, "train" holds the
# tokenizer's level and the language model's bptt): every kind, with the figures that
# version printed for them.
FIXTURES_V2 = Path(__file__).parent / "fixtures" / "checkpoints-a08dc0e"
EXPECTED_V2 = json.loads((FIXTURES_V2 / "expected.json").read_text(encoding="utf-8"))
DATA_V2 = FIXTURES_V2 / "data"
CONDITIONS_V2 = {
    "lm-label": ["--label", "pos"],
    "lm-vector": ["--vector", DATA_V2 / "one-vector.npy"],
}
EVAL_DATA_V2 = {
    "lm-label": ["--data", DATA_V2 / "labeled.tsv"],
    "lm-vector": ["--data", DATA_V2 / "test.txt", "--vectors", DATA_V2 / "test-vectors.npy"],
}
KINDS_V2 = {
    "lm-char": "language-model",
    "lm-word-adaptive": "language-model",
    "lm-gru-tied-reset": "language-model",
    "lm-label": "language-model",
    "lm-vector": "language-model",
    "classifier": "classifier",
    "tagger": "tagger",
    "translator": "translator",
}


def same_figures(ours: dict, theirs: dict) -> None:
    """Every figure the old version printed, the same now (new figures may be added)."""
    for key, value in theirs.items():
        if isinstance(value, float):
            assert ours[key] == pytest.approx(value, rel=1e-6), key
        else:
            assert ours[key] == value, key


@pytest.mark.parametrize(("name", "kind"), KINDS_V2.items())
def test_a_format_2_checkpoint_loads_as_its_kind(name, kind):
    assert elman.load(FIXTURES_V2 / name).kind == kind


@pytest.mark.parametrize("name", [n for n in KINDS_V2 if n.startswith("lm-")])
def test_a_format_2_language_model_evaluates_scores_and_samples_as_before(name):
    expected, model = EXPECTED_V2[name], FIXTURES_V2 / name
    data = EVAL_DATA_V2.get(name, ["--data", DATA_V2 / "test.txt"])
    condition = CONDITIONS_V2.get(name, [])
    same_figures(json.loads(ok(run_elman("eval", "--model", model, *data, "--json"))),
                 expected["eval"])  # fmt: skip
    rows = ok(run_elman("score", "--model", model, "--json", DATA_V2 / "test.txt", *condition))
    scores = [json.loads(row) for row in rows.splitlines() if row]
    assert len(scores) == len(expected["score"])
    for ours, theirs in zip(scores, expected["score"], strict=True):
        same_figures(ours, theirs)
    sample = ok(run_elman("generate", "--model", model, "--prompt", "the ", "--length", "20",
                          "--seed", "3", *condition))  # fmt: skip
    assert sample == expected["generate"]


def test_a_format_2_classifier_and_tagger_evaluate_and_predict_as_before():
    for family, name, data in (
        ("classify", "classifier", "labeled.tsv"),
        ("tag", "tagger", "pos.tsv"),
    ):
        model, expected = FIXTURES_V2 / name, EXPECTED_V2[name]
        result = ok(run_elman(family, "eval", "--model", model, "--data", DATA_V2 / data, "--json"))
        same_figures(json.loads(result), expected["eval"])
        predicted = ok(
            run_elman(family, "predict", "--model", model, "--json", DATA_V2 / "test.txt")
        )
        ours = [json.loads(r) for r in predicted.splitlines() if r]
        theirs = [json.loads(r) for r in expected["predict"].splitlines() if r]
        assert len(ours) == len(theirs)
        for row, before in zip(ours, theirs, strict=True):  # float32 sums differ by kernel
            same_figures(row, before)


def test_a_format_2_translator_evaluates_and_translates_as_before():
    model, expected = FIXTURES_V2 / "translator", EXPECTED_V2["translator"]
    result = ok(run_elman("translate", "eval", "--model", model, "--data", DATA_V2 / "add.tsv",
                          "--split", "test", "--json"))  # fmt: skip
    figures, before = json.loads(result), dict(expected["eval"])
    # BLEU of one-word answers was a 0 whatever the translations; it is now left out, said
    assert before.pop("bleu") == 0.0 and figures["bleu"] is None
    assert figures["bleu_note"].startswith("BLEU n/a: no reference has the 4 words")
    same_figures(figures, before)
    rows = ok(run_elman("translate", "predict", "--model", model, "--json", DATA_V2 / "sums.txt"))
    for ours, theirs in zip(rows.splitlines(), expected["predict"].splitlines(), strict=True):
        same_figures(json.loads(ours), json.loads(theirs))
