"""A kind of model from outside elman (tests/toykind: a many-to-one regressor) registers
itself as another package would, through an ``elman.kinds`` entry point in its own
distribution's metadata, and then trains, resumes and evaluates through the ``elman``
command, and loads with ``elman.load``, without a file of src/ naming it. The commands
that cannot use it (export, the playground's actions) refuse it with a sentence.

The distribution is a ``toykind-0.1.dist-info`` folder beside nothing but its metadata,
put on the subprocess's path with the repository (for ``tests.toykind``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict[str, str]:
    """The environment of a process in which the toy kind is installed."""
    site = tmp_path_factory.mktemp("site")
    info = site / "toykind-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toykind\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[elman.kinds]\nregressor = tests.toykind:REGISTRATION\n"
    )
    path = os.pathsep.join([str(site), str(ROOT), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path}


def elman(env: dict[str, str], *args: object) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "elman", *map(str, args)],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def write_data(directory: Path) -> tuple[Path, Path]:
    """Texts whose number is their count of a's: a mean of embeddings learns it."""
    lines = [f"{text.count('a') / len(text):.3f}\t{text}" for text in
             ("aab", "abb", "bbb", "aaa", "abab", "baba", "aaab", "bbba") * 8]  # fmt: skip
    train, valid = directory / "train.tsv", directory / "valid.tsv"
    train.write_text("\n".join(lines) + "\n")
    valid.write_text("\n".join(lines[:8]) + "\n")
    return train, valid


def test_a_registered_kind_is_listed_trained_resumed_and_evaluated(installed, tmp_path):
    assert "regress" in ok(elman(installed, "--help"))
    assert "--embed" in ok(elman(installed, "regress", "train", "--help"))
    train, valid = write_data(tmp_path)
    out = tmp_path / "run"
    settings = ["--threads", "1", "--batch", "8", "--lr", "0.05"]
    ok(elman(installed, "regress", "train", "--data", train, "--valid", valid, "--out", out,
             "--max-steps", "10", "--epochs", "0", *settings))  # fmt: skip
    config = json.loads((out / "config.json").read_text())
    assert config["kind"] == "regressor" and config["model"]["embed"] == 8  # the kind's default
    ok(elman(installed, "regress", "train", "--resume", out, "--max-steps", "40"))
    steps = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert max(r["step"] for r in steps if "step" in r) == 40
    whole = tmp_path / "whole"
    ok(elman(installed, "regress", "train", "--data", train, "--valid", valid, "--out", whole,
             "--max-steps", "40", "--epochs", "0", *settings))  # fmt: skip
    for name in ("model.safetensors", "resume.safetensors"):
        assert (out / name).read_bytes() == (whole / name).read_bytes(), name
    figures = json.loads(ok(elman(installed, "regress", "eval", "--model", out, "--data", valid,
                                  "--json")))  # fmt: skip
    first = next(r for r in steps if r.get("event") == "epoch")
    assert figures["texts"] == 8 and figures["loss"] < first["valid_loss"]
    code = f"import elman; print(elman.load({str(out)!r}).kind)"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=installed, check=True)  # fmt: skip
    assert loaded.stdout.strip() == "regressor"


def test_what_cannot_use_the_kind_refuses_it_with_a_sentence(installed, tmp_path):
    train, _ = write_data(tmp_path)
    out = tmp_path / "run"
    ok(elman(installed, "regress", "train", "--data", train, "--out", out, "--max-steps", "2",
             "--epochs", "0"))  # fmt: skip
    refused = elman(installed, "export", "--model", out, tmp_path / "toy.onnx")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "regressor" in refused.stderr and not (tmp_path / "toy.onnx").exists()
    refused = elman(installed, "generate", "--model", out)
    assert refused.returncode == 2 and "regressor" in refused.stderr


def test_without_the_package_the_kind_is_unknown(tmp_path):
    """The same checkpoint, read where the toy kind is not installed."""
    train, _ = write_data(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = tmp_path / "run"
    (out).mkdir()
    (out / "config.json").write_text(json.dumps({"format": "elman", "format_version": 3,
                                                 "kind": "regressor"}))  # fmt: skip
    refused = elman(env, "classify", "eval", "--model", out, "--data", train)
    assert refused.returncode == 2
    assert "'regressor' is not known to this elman" in refused.stderr
