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
