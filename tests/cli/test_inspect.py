"""``elman inspect units | gradients | curves`` and ``elman train --plot`` end to end, in
process through ``elman.cli.main``: what they write compared with the Python API, and
every user error ending with exit code 2 and one sentence on stderr."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

import elman
from elman import insight
from elman.cli import main
from elman.lm import checkpoint
from tests.insight.conftest import HELD_OUT, TEXT
from tests.parts import require_module

FIXTURES = Path(__file__).parent.parent / "fixtures" / "checkpoints-eefe27f"
TINY = ["--embed", "8", "--hidden", "12", "--batch", "4", "--bptt", "16", "--log-every", "5"]
PNG = b"\x89PNG\r\n\x1a\n"


def run(capsys, *args):
    """``elman ARGS`` in-process: (exit code, stdout, stderr)."""
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def needs_matplotlib():
    require_module("matplotlib", "pip install -e '.[test]'")


def no_matplotlib(monkeypatch):
    """Make elman see no matplotlib, as on an install without the [plot] extra."""
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "matplotlib" else find_spec(name, *a),
    )


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A tiny character model trained with --plot, on a text and a held-out text."""
    needs_matplotlib()
    d = tmp_path_factory.mktemp("inspect")
    (d / "train.txt").write_text(TEXT, encoding="utf-8")
    (d / "valid.txt").write_text(HELD_OUT, encoding="utf-8")
    code = main(
        [
            "train",
            "--train",
            str(d / "train.txt"),
            "--valid",
            str(d / "valid.txt"),
            *TINY,
            "--max-steps",
            "40",
            "--epochs",
            "3",
            "--out",
            str(d / "run"),
            "--plot",
            str(d / "curves.png"),
        ]
    )
    assert code == 0
    return d


def test_train_plot_draws_the_curves_at_the_end(run_dir):
    assert (run_dir / "curves.png").read_bytes().startswith(PNG)
    curves = insight.read_metrics(run_dir / "run")
    assert curves.steps["step"] == [5, 10, 15, 20, 25, 30, 35, 40]


def test_resume_accepts_plot(run_dir, capsys):
    code, out, err = run(
        capsys,
        "train",
        "--resume",
        run_dir / "run",
        "--max-steps",
        "50",
        "--plot",
        run_dir / "resumed.png",
    )
    assert code == 0, err
    assert "training curves" in out
    assert (run_dir / "resumed.png").read_bytes().startswith(PNG)
    assert insight.read_metrics(run_dir / "run").steps["step"][-1] == 50


def test_train_plot_checks_matplotlib_before_training(tmp_path, capsys, monkeypatch):
    no_matplotlib(monkeypatch)
    (tmp_path / "t.txt").write_text(TEXT, encoding="utf-8")
    code, out, err = run(
        capsys,
        "train",
        "--train",
        tmp_path / "t.txt",
        *TINY,
        "--max-steps",
        "5",
        "--out",
        tmp_path / "run",
        "--plot",
        tmp_path / "c.png",
    )
    assert code == 2 and "matplotlib" in err and "pip install" in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "run").exists()  # nothing trained, nothing written
    code, _, err = run(capsys, "inspect", "curves", "--run", tmp_path, "--plot", tmp_path / "c.png")
    assert code == 2 and "matplotlib" in err


def test_resume_with_plot_checks_matplotlib_before_training(run_dir, capsys, monkeypatch):
    no_matplotlib(monkeypatch)
    metrics = (run_dir / "run" / "metrics.jsonl").read_bytes()
    code, _, err = run(
        capsys,
        "train",
        "--resume",
        run_dir / "run",
        "--max-steps",
        "90",
        "--plot",
        run_dir / "x.png",
    )
    assert code == 2 and "matplotlib" in err
    assert (run_dir / "run" / "metrics.jsonl").read_bytes() == metrics


def test_units_writes_the_report_and_ranks_a_users_feature(run_dir, capsys):
    """A feature equal to one unit's values puts that unit first with |r| = 1."""
    ckpt = checkpoint.load(run_dir / "run")
    acts = insight.activations(ckpt.model, ckpt.tokenizer.encode(HELD_OUT), ckpt.tokenizer)
    unit_values = acts.values[(0, "h")][:, 7]
    feature = run_dir / "unit7.txt"
    feature.write_text(" ".join(f"{v:.9g}" for v in unit_values), encoding="utf-8")
    report = run_dir / "report"
    code, out, err = run(
        capsys,
        "inspect",
        "units",
        "--model",
        run_dir / "run",
        "--text",
        run_dir / "valid.txt",
        "--out",
        report,
        "--feature",
        f"mine={feature}",
    )
    assert code == 0, err
    assert "report:" in out and "in_quotes" in out and "mine" in out
    units = json.loads((report / "units.json").read_text(encoding="utf-8"))
    best = units["features"]["mine"][0]
    assert (best["layer"], best["state"], best["unit"]) == (0, "h", 7)
    assert best["score"] == pytest.approx(1.0, abs=1e-6)
    assert set(units["features"]) >= {"in_quotes", "line_position", "word_start", "mine"}
    assert set(units["constant_features"]) == {"digit", "hangul", "in_brackets"}
    for entries in units["features"].values():
        scores = [e["score"] for e in entries]
        assert scores == sorted(scores, reverse=True) and 0 <= min(scores) and max(scores) <= 1
        assert len(entries) == 12  # every unit of the tanh RNN's one layer
    page = (report / "index.html").read_text(encoding="utf-8")
    assert "<script" in page and "http://" not in page and "https://" not in page


def test_units_of_a_word_model_with_gru_gates(capsys, tmp_path):
    code, out, err = run(
        capsys,
        "inspect",
        "units",
        "--model",
        FIXTURES / "lm-gru-tied",
        "--text",
        FIXTURES / "test.txt",
        "--out",
        tmp_path,
    )
    assert code == 0, err
    units = json.loads((tmp_path / "units.json").read_text(encoding="utf-8"))
    states = {e["state"] for e in units["features"]["line_position"]}
    assert states == {"h", "r", "z", "n"}
    assert [s["gate"] for s in units["saturation"]] == ["r", "z"]


def test_gradients_json_and_plot(run_dir, capsys):
    code, out, err = run(
        capsys,
        "inspect",
        "gradients",
        "--model",
        run_dir / "run",
        "--model",
        FIXTURES / "lm-char",
        "--text",
        run_dir / "valid.txt",
        "--steps",
        "12",
        "--positions",
        "9",
        "--json",
        "--plot",
        run_dir / "g.png",
    )
    assert code == 0, err
    result = json.loads(out)
    assert [m["model"] for m in result["models"]] == [
        str(run_dir / "run"),
        str(FIXTURES / "lm-char"),
    ]
    ckpt = checkpoint.load(run_dir / "run")
    expected = insight.gradient_norms(
        ckpt.model, ckpt.tokenizer.encode(HELD_OUT), ckpt.tokenizer, 12, 9
    )
    first = result["models"][0]
    assert first["positions"] == 9 and first["steps"] == 12 and first["scale_recurrent"] == 1.0
    np.testing.assert_allclose(first["norms"], expected.norms, rtol=1e-6)
    assert all(len(layer) == 13 for m in result["models"] for layer in m["norms"])
    assert (run_dir / "g.png").read_bytes().startswith(PNG)


def test_gradients_table_and_scale_recurrent(run_dir, capsys):
    common = ["inspect", "gradients", "--model", run_dir / "run", "--text", run_dir / "valid.txt"]
    code, out, err = run(capsys, *common, "--steps", "10", "--scale-recurrent", "0.5")
    assert code == 0, err
    assert "W_h x 0.5" in out and "10 steps back / 0 steps back" in out
    code, out, _ = run(capsys, *common, "--steps", "10", "--scale-recurrent", "0.5", "--json")
    scaled = json.loads(out)["models"][0]
    assert scaled["scale_recurrent"] == 0.5
    ckpt = checkpoint.load(run_dir / "run")
    insight.scale_recurrent(ckpt.model, 0.5)
    ids = ckpt.tokenizer.encode(HELD_OUT)
    expected = insight.gradient_norms(ckpt.model, ids, ckpt.tokenizer, steps=10)
    np.testing.assert_allclose(scaled["norms"], expected.norms, rtol=1e-6)
    code, out, _ = run(capsys, *common, "--steps", "10", "--json", "--warmup", "0")
    assert json.loads(out)["models"][0]["norms"] != scaled["norms"]


def test_curves_of_any_kind_of_run(run_dir, capsys, tmp_path):
    code, out, err = run(
        capsys, "inspect", "curves", "--run", run_dir / "run", "--plot", tmp_path / "c.png"
    )
    assert code == 0, err
    assert (tmp_path / "c.png").read_bytes().startswith(PNG)


@pytest.mark.parametrize(
    "args,message",
    [
        (
            [
                "units",
                "--model",
                FIXTURES / "classifier",
                "--text",
                FIXTURES / "test.txt",
                "--out",
                "{tmp}/r",
            ],
            "holds a classifier checkpoint",
        ),
        (
            ["units", "--model", "{tmp}", "--text", FIXTURES / "test.txt", "--out", "{tmp}/r"],
            "not an elman checkpoint",
        ),
        (
            [
                "units",
                "--model",
                FIXTURES / "lm-char",
                "--text",
                FIXTURES / "test.txt",
                "--out",
                "{tmp}/r",
                "--feature",
                "x={tmp}/f.txt",
            ],
            "numbers but the text has",
        ),
        (
            [
                "units",
                "--model",
                FIXTURES / "lm-char",
                "--text",
                FIXTURES / "test.txt",
                "--out",
                "{tmp}/r",
                "--feature",
                "in_quotes={tmp}/f.txt",
            ],
            "built-in feature",
        ),
        (
            [
                "units",
                "--model",
                FIXTURES / "lm-char",
                "--text",
                FIXTURES / "test.txt",
                "--out",
                "{tmp}/r",
                "--max-tokens",
                "0",
            ],
            "--max-tokens",
        ),
        (
            [
                "gradients",
                "--model",
                FIXTURES / "lm-char",
                "--text",
                FIXTURES / "test.txt",
                "--steps",
                "100000",
            ],
            "needs at least",
        ),
        (
            [
                "gradients",
                "--model",
                FIXTURES / "lm-char",
                "--text",
                FIXTURES / "test.txt",
                "--plot",
                "{tmp}/g.jpg",
            ],
            "end in .png",
        ),
        (
            [
                "gradients",
                "--model",
                FIXTURES / "lm-char",
                "--text",
                FIXTURES / "test.txt",
                "--plot",
                "{tmp}/no/g.png",
            ],
            "does not exist",
        ),
        (
            [
                "gradients",
                "--model",
                FIXTURES / "lm-char",
                "--text",
                FIXTURES / "test.txt",
                "--steps",
                "0",
            ],
            "--steps",
        ),
        (["curves", "--run", "{tmp}", "--plot", "{tmp}/c.png"], "metrics.jsonl does not exist"),
    ],
)
def test_errors_are_one_sentence_and_exit_2(args, message, tmp_path, capsys):
    (tmp_path / "f.txt").write_text("1 2 3", encoding="utf-8")
    args = [str(a).replace("{tmp}", str(tmp_path)) for a in args]
    code, _, err = run(capsys, "inspect", *args)
    assert code == 2 and message in err, err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_a_conditioned_language_model_is_refused(tmp_path, capsys):
    from elman.lm.conditioned import ConditionConfig, ConditionedLanguageModel

    tokenizer = elman.CharTokenizer.fit(TEXT)
    config = elman.ModelConfig(vocab_size=len(tokenizer), embed=4, hidden=6)
    model = ConditionedLanguageModel(config, ConditionConfig(condition="label"), 2)
    checkpoint.save(tmp_path / "cond", model, tokenizer, data={"labels": ["a", "b"]})
    (tmp_path / "t.txt").write_text(HELD_OUT, encoding="utf-8")
    code, _, err = run(
        capsys, "inspect", "units", "--model", tmp_path / "cond", "--text", tmp_path / "t.txt",
        "--out", tmp_path / "r",
    )  # fmt: skip
    assert code == 2 and "conditioned on a label" in err and err.count("\n") == 1
