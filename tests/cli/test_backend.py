"""--backend, --device and elman export from the command line: what is offered, what is
refused with a sentence, and a torch run's checkpoint read by both engines."""

import json
import subprocess
import sys

import numpy as np
import pytest
import safetensors.numpy

from elman.cli import main
from elman.cli.backend import Engine
from elman.errors import ElmanError
from elman.training import Alone

TEXT = "".join(
    f"line {i}: the quick brown fox jumps over the lazy dog {i % 7}\n" for i in range(30)
)
SMALL = ["--hidden", "16", "--embed", "8", "--batch", "4", "--bptt", "8", "--max-steps", "6"]


@pytest.fixture
def one_thread():
    """Torch on one thread for these tiny models (tests/torch_backend/conftest.py says why)."""
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def text(tmp_path):
    path = tmp_path / "train.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


def refused(capsys, argv) -> str:
    assert main(argv) == 2
    return capsys.readouterr().err


def test_device_without_the_torch_backend_is_refused(capsys, text):
    err = refused(capsys, ["train", "--train", str(text), *SMALL, "--device", "cpu"])
    assert "--device cpu chooses where the torch backend runs" in err


def test_only_training_runs_in_several_processes(capsys, monkeypatch, text):
    monkeypatch.setenv("WORLD_SIZE", "2")
    err = refused(capsys, ["eval", "--model", "x", "--data", str(text), "--backend", "torch"])
    assert "only the training commands run in several processes" in err
    err = refused(capsys, ["tag", "predict", "--model", "x", "--backend", "torch"])
    assert "only the training commands run in several processes" in err


def test_a_batch_the_processes_cannot_share_is_refused():
    with pytest.raises(ElmanError, match="--batch 7 streams cannot be shared equally by 2"):
        Engine("torch", Alone(), size=2).check_batch(7)
    Engine("torch", Alone(), size=2).check_batch(8)


def test_flags_are_offered_where_they_apply(capsys):
    commands = [["train"], ["eval"], ["generate"], ["score"]]
    commands += [["translate", "train"], ["translate", "eval"], ["translate", "predict"]]
    for command in commands:
        with pytest.raises(SystemExit):
            main([*command, "--help"])
        assert "--backend {numpy,torch}" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["recipes", "--help"])
    assert "--backend" not in capsys.readouterr().out


@pytest.mark.usefixtures("one_thread")
def test_a_torch_run_is_read_by_both_engines_and_resumed_by_its_own(capsys, tmp_path, text):
    out = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--train",
                str(text),
                *SMALL,
                "--out",
                str(out),
                "--backend",
                "torch",
                "--device",
                "cpu",
                "--cell",
                "gru",
            ]
        )
        == 0
    )
    assert "on torch (cpu)" in capsys.readouterr().out
    figures = []
    for backend in ("numpy", "torch"):
        assert (
            main(["eval", "--model", str(out), "--data", str(text), "--json", "--backend", backend])
            == 0
        )
        figures.append(json.loads(capsys.readouterr().out)["perplexity"])
    assert figures[1] == pytest.approx(figures[0], rel=1e-5)
    err = refused(capsys, ["train", "--resume", str(out), "--max-steps", "8"])
    assert "written by the torch backend" in err and "--backend torch" in err
    err = refused(
        capsys,
        [
            "eval",
            "--model",
            str(out),
            "--data",
            str(text),
            "--backend",
            "torch",
            "--dynamic-lr",
            "1",
        ],
    )
    assert "dynamic evaluation runs on the NumPy engine only" in err


def test_export_wants_an_onnx_file_name(capsys, tmp_path):
    err = refused(capsys, ["export", "--model", str(tmp_path), "--format", "onnx", "m.bin"])
    assert "should end in .onnx" in err


def test_the_core_imports_neither_torch_nor_onnx():
    code = (
        "import sys, elman, elman.cli, elman.kinds, elman.training\n"
        "heavy = sorted(m for m in ('torch', 'onnx', 'onnxruntime') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.usefixtures("one_thread")
def test_a_torch_run_stopped_and_resumed_on_the_cpu_is_exact(tmp_path, text):
    """Weights, Adam's moments, the carried (h, c) and the dropout generator come back:
    the resumed run's training state equals an uninterrupted run's, bit for bit."""

    settings = ["--train", str(text), *SMALL[:-2], "--backend", "torch", "--device", "cpu"]
    settings += ["--cell", "lstm", "--dropout", "0.2", "--save-every", "4"]
    whole, part = tmp_path / "whole", tmp_path / "part"
    assert main(["train", *settings, "--max-steps", "12", "--out", str(whole)]) == 0
    assert main(["train", *settings, "--max-steps", "6", "--out", str(part)]) == 0
    resume = ["train", "--resume", str(part), "--max-steps", "12", "--backend", "torch"]
    assert main([*resume, "--device", "cpu"]) == 0
    a = safetensors.numpy.load_file(str(whole / "resume.safetensors"))
    b = safetensors.numpy.load_file(str(part / "resume.safetensors"))
    assert a.keys() == b.keys() and "state.0.1" in a and "optimizer.m" in a
    for name in a:
        np.testing.assert_array_equal(b[name], a[name], err_msg=name)
