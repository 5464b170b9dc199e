"""benchmarks/bench.py runs end to end, on workloads small enough for the test suite.

Speed is not asserted anywhere: only that the script works, that its elman and torch
models agree, and that it reports what it measured.
"""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from elman.gemm import mkl_problem

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench.py"


@pytest.fixture
def bench(monkeypatch):
    spec = importlib.util.spec_from_file_location("bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench", module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    tiny = {
        "tiny-rnn": module.Workload("rnn", 50, 6, 8, 1, 2, 3),
        "tiny-lstm": module.Workload("lstm", 50, 6, 8, 2, 2, 3),
        "tiny-gru": module.Workload("gru", 50, 6, 8, 2, 2, 3),
        "tiny-adaptive": module.Workload("rnn", 50, 6, 16, 1, 2, 3, softmax="adaptive"),
    }
    monkeypatch.setattr(module, "WORKLOADS", tiny)
    monkeypatch.setattr(module, "GENERATE_MODELS", ("tiny-lstm",))
    rate = {"median_gflops": 100.0, "samples": [100.0]}
    rates = {"numpy": rate, "torch": rate, "torch_lstm": rate}
    monkeypatch.setattr(module, "matmul_rates", lambda clock: rates)
    monkeypatch.setattr(module, "SETTLE_SECONDS", 0.0)  # tiny steps need no rest between
    # A spawned process could not import this module (loaded from a path) by name.
    monkeypatch.setattr(module, "in_fresh_process", lambda function, *args: function(*args))
    return module


def test_bench_reports_every_workload_and_the_products_alone(bench, tmp_path):
    bench.main(
        ["--repeats", "2", "--steps", "1", "--tokens", "3", "--warmup", "2", "--no-memory"]
        + ["--out", str(tmp_path)]
    )
    report = json.loads((tmp_path / "latest.json").read_text())
    results = {r["workload"]: r for r in report["results"]}
    assert set(results) == {
        "tiny-rnn", "tiny-lstm", "tiny-gru", "tiny-adaptive", "generate (tiny-lstm)"
    }  # fmt: skip
    for result in results.values():
        assert result["check"]["ok"], result["check"]
        assert result["elman"] and result["torch"]
    # With the [mkl] extra, a third contestant: the same model on MKL's products.
    training = [results[name] for name in ("tiny-rnn", "tiny-lstm", "tiny-gru", "tiny-adaptive")]
    if mkl_problem() is None:
        assert all(r["elman-mkl"]["tokens_per_s"] > 0 for r in training)
        assert all(r["gemm_auto"] == "numpy" for r in training)  # products this small
        assert "## With MKL's packed recurrent products" in (tmp_path / "latest.md").read_text()
    # The products alone are timed for the full softmax, not for the adaptive one.
    for name in ("tiny-rnn", "tiny-lstm", "tiny-gru"):
        alone = results[name]["products_alone"]
        assert len(alone["tokens_per_s_samples"]) == 2
        assert alone["ceiling_over_torch"] == pytest.approx(
            alone["tokens_per_s"] / results[name]["torch"]["tokens_per_s"]
        )
    assert "products_alone" not in results["tiny-adaptive"]
    table = (tmp_path / "latest.md").read_text()
    assert "## The same step's matrix products alone" in table
    assert "| tiny-lstm |" in table and "MISMATCH" not in table


def test_profile_step_times_every_part_of_a_step(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH.parent))
    for name in ("bench", "profile_step"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    profile_step = importlib.import_module("profile_step")
    parts = dict(profile_step.profile("lstm-ptb", 2))
    expected = ["embed forward", "rnn.1 backward", "softmax + cross-entropy forward"]
    expected += ["zero gradients", "clip + SGD update", "matrix products alone"]
    assert set(expected) <= set(parts)
    assert 0 < parts["rnn.0 forward"] < parts["whole step"]


def test_translate_benchmark_reports_every_engine_on_the_same_weights(monkeypatch, tmp_path):
    """benchmarks/translate.py on tiny workloads: elman's translator on NumPy and on the
    torch backend and the torch reference start from the same weights (their first two
    losses agree), and the three speeds are reported."""
    monkeypatch.syspath_prepend(str(BENCH.parent))
    for name in ("bench", "translate"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    bench_module = importlib.import_module("bench")
    translate = importlib.import_module("translate")
    W = translate.Workload
    tiny = {
        "tiny-gru": W("gru", 9, 8, 6, 6, True, "general", True, 3, (2, 4), (1, 3)),
        "tiny-lstm": W("lstm", 9, 8, 4, 6, False, "additive", False, 2, (1, 3), (2, 2)),
    }
    monkeypatch.setattr(translate, "WORKLOADS", tiny)
    monkeypatch.setattr(bench_module, "SETTLE_SECONDS", 0.0)
    monkeypatch.setattr(translate, "in_fresh_process", lambda function, *args: function(*args))
    translate.main(["--repeats", "2", "--steps", "1", "--out", str(tmp_path)])
    report = json.loads((tmp_path / "translate-latest.json").read_text())
    assert [r["workload"] for r in report["results"]] == ["tiny-gru", "tiny-lstm"]
    for result in report["results"]:
        assert result["check"]["ok"], result["check"]
        assert len(result["elman"]["tokens_per_s_samples"]) == 2
        assert result["backend"]["tokens_per_s"] > 0 and result["torch"]["tokens_per_s"] > 0
        assert len(result["check"]["backend_losses"]) == 2
    assert "MISMATCH" not in (tmp_path / "translate-latest.md").read_text()


@pytest.fixture
def contention(monkeypatch, bench):
    """benchmarks/contention.py on bench's tiny workloads, with a tiny demo."""
    monkeypatch.syspath_prepend(str(BENCH.parent))
    monkeypatch.delitem(sys.modules, "contention", raising=False)
    module = importlib.import_module("contention")  # imports the patched bench above
    monkeypatch.setattr(module, "WORKLOADS", bench.WORKLOADS)
    monkeypatch.setattr(module, "GENERATE_MODELS", bench.GENERATE_MODELS)
    monkeypatch.setattr(module, "in_fresh_process", lambda function, *args: function(*args))
    tiny_demo = ["-m", "elman", "train", "--max-steps", "2", "--hidden", "8", "--embed", "4"]
    monkeypatch.setattr(module, "DEMO", tiny_demo)
    return module


def test_contention_reports_quiet_and_loaded_speeds(contention, tmp_path):
    contention.main(
        ["--workloads", "tiny-rnn,generate", "--busy", "1", "--repeats", "2", "--steps", "1"]
        + ["--tokens", "3", "--warmup", "3", "--demo-repeats", "1", "--out", str(tmp_path)]
    )
    report = json.loads((tmp_path / "contention.json").read_text())
    results = {r["workload"]: r for r in report["results"]}
    assert set(results) == {"tiny-rnn", "generate (tiny-lstm)"}
    for result in results.values():
        for condition in ("quiet", "loaded"):
            for fw in ("elman", "torch"):
                assert len(result[condition][fw]["samples"]) == 2
            assert result[condition]["elman_threads"] >= 1
    [demo] = report["demo"]
    assert len(demo["quiet"]) == len(demo["loaded"]) == 1
    table = (tmp_path / "contention.md").read_text()
    assert "| tiny-rnn |" in table and "--max-steps 60" in table
    assert report["busy_command"] and report["blas"]["numpy"]


def test_the_busy_processes_stop_however_the_block_ends(contention):
    with pytest.raises(KeyboardInterrupt), contention.busy(2) as processes:
        assert all(p.poll() is None for p in processes)
        raise KeyboardInterrupt
    assert all(p.poll() is not None for p in processes)
