"""Training curves: metrics.jsonl as the training loop writes it for each kind of model,
read into series, and drawn (matplotlib)."""

import json
import math

import pytest

from elman import insight
from elman.errors import ElmanError
from elman.insight.gradients import GradientNorms
from elman.insight.plots import _last_of_each_epoch
from tests.parts import require_module

PNG = b"\x89PNG\r\n\x1a\n"
LM = [
    {
        "event": "step",
        "epoch": 1,
        "step": 5,
        "loss": 3.0,
        "grad_norm": 2.0,
        "lr": 1.0,
        "tokens_per_s": 900.0,
    },
    {"event": "save", "epoch": 1, "step": 5, "seconds": 0.5},
    {
        "event": "step",
        "epoch": 1,
        "step": 10,
        "loss": 2.5,
        "grad_norm": 1.5,
        "lr": 1.0,
        "tokens_per_s": 1000.0,
    },
    {
        "event": "epoch",
        "epoch": 1,
        "step": 10,
        "train_loss": 2.7,
        "train_ppl": 14.9,
        "lr": 1.0,
        "valid_loss": 2.6,
        "valid_ppl": 13.5,
        "valid_tokens": 100,
        "partial": True,
        "averaged_steps": 0,
        "seconds": 1.0,
        "tokens_per_s": 950.0,
        "saved": True,
    },
    {"event": "rollback", "step": 12, "to_step": 10, "lr": 0.5},
    {
        "event": "step",
        "epoch": 1,
        "step": 15,
        "loss": 2.2,
        "grad_norm": 1.0,
        "lr": 0.5,
        "tokens_per_s": 1100.0,
    },
    {
        "event": "epoch",
        "epoch": 1,
        "step": 20,
        "train_loss": 2.3,
        "train_ppl": 10.0,
        "lr": 0.5,
        "valid_loss": None,
        "valid_ppl": None,
        "valid_tokens": 100,
        "averaged_steps": 0,
        "seconds": 2.0,
        "tokens_per_s": 980.0,
        "saved": False,
    },
    {"event": "test", "loss": 2.4, "perplexity": 11.0, "tokens": 100},
]
CLASSIFIER = [
    {
        "event": "step",
        "epoch": 1,
        "step": 2,
        "loss": 0.7,
        "grad_norm": 0.3,
        "lr": 0.002,
        "texts_per_s": 40.0,
    },
    {
        "event": "epoch",
        "epoch": 1,
        "step": 4,
        "train_loss": 0.6,
        "lr": 0.002,
        "valid_loss": 0.5,
        "valid_accuracy": 0.8,
        "valid_macro_f1": 0.75,
        "averaged_steps": 0,
        "seconds": 0.1,
        "texts_per_s": 42.0,
        "saved": True,
    },
]


def write_run(tmp_path, records, tail=""):
    lines = "".join(json.dumps(r) + "\n" for r in records)
    (tmp_path / "metrics.jsonl").write_text(lines + tail, encoding="utf-8")
    return tmp_path


def test_language_model_records_become_series(tmp_path):
    curves = insight.read_metrics(write_run(tmp_path, LM, tail='{"event": "st'))  # being written
    assert curves.unit == "tokens" and curves.language_model
    assert curves.steps["step"] == [5, 10, 15]
    assert curves.steps["loss"] == [3.0, 2.5, 2.2]
    assert curves.steps["speed"] == [900.0, 1000.0, 1100.0]
    assert curves.steps["lr"] == [1.0, 1.0, 0.5]
    assert curves.epochs["step"] == [10, 20]
    assert curves.epochs["train_ppl"] == [14.9, 10.0]
    assert curves.epochs["valid_loss"][0] == 2.6 and math.isnan(curves.epochs["valid_loss"][1])
    assert curves.rollbacks == [12]
    assert curves.test["perplexity"] == 11.0
    assert "partial" not in curves.epochs and "saved" not in curves.epochs  # flags, not figures
    assert curves.valid_figures() == ["valid_ppl"]
    assert insight.read_metrics(tmp_path / "metrics.jsonl").steps == curves.steps


def test_classifier_records(tmp_path):
    curves = insight.read_metrics(write_run(tmp_path, CLASSIFIER))
    assert curves.unit == "texts" and not curves.language_model
    assert curves.valid_figures() == ["valid_accuracy", "valid_macro_f1"]


def test_bad_files_are_refused_with_the_fix(tmp_path):
    with pytest.raises(ElmanError, match="does not exist"):
        insight.read_metrics(tmp_path)
    write_run(tmp_path, LM[:1], tail="not json\n" + json.dumps(LM[2]) + "\n")
    with pytest.raises(ElmanError, match="line 2 .* is not JSON"):
        insight.read_metrics(tmp_path)
    write_run(tmp_path, [], tail="[1, 2]\n{}\n")
    with pytest.raises(ElmanError, match="not a JSON object"):
        insight.read_metrics(tmp_path)
    write_run(tmp_path, [LM[1]])
    with pytest.raises(ElmanError, match="no step or epoch records"):
        insight.read_metrics(tmp_path)


def test_last_record_of_each_epoch():
    assert _last_of_each_epoch([1, 1, 2, 3, 3]) == [1, 2, 4]


@pytest.fixture
def matplotlib_installed():
    require_module("matplotlib", "pip install -e '.[test]'")


@pytest.mark.parametrize("records", [LM, CLASSIFIER], ids=["language-model", "classifier"])
def test_curves_are_drawn(records, tmp_path, matplotlib_installed):
    curves = insight.read_metrics(write_run(tmp_path, records))
    insight.plot_curves(curves, tmp_path / "c.png", title="run")
    assert (tmp_path / "c.png").read_bytes().startswith(PNG)


def test_gradients_are_drawn(tmp_path, matplotlib_installed):
    lstm = GradientNorms("lstm", 3, 10, [[1.0, 0.5, 0.2, 0.1]], [[2.0, 1.0, 0.0, math.nan]])
    rnn = GradientNorms("rnn", 3, 10, [[1.0, 0.1, 0.01, 0.001], [1.0, 0.2, 0.04, 0.008]])
    insight.plot_gradients([("lstm", lstm), ("rnn", rnn)], tmp_path / "g.png")
    assert (tmp_path / "g.png").read_bytes().startswith(PNG)
    assert rnn.ratio(3) == pytest.approx(0.008) and rnn.ratio(3, layer=0) == pytest.approx(0.001)
    assert lstm.as_dict()["norms_c"][0][:3] == [2.0, 1.0, 0.0]
    assert "norms_c" not in rnn.as_dict()
