"""Small trained models of every kind the playground serves, made once for its tests, and
``elman serve`` over them on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from elman.cli import main
from tests.cli.test_classify import sms_lines
from tests.cli.test_lm import FOX
from tests.cli.test_translate import QUESTIONS
from tests.parts import missing, require_module

POS = "".join(f"the\tDET\ndog\tNOUN\n{w}\tVERB\n\n" for w in ("runs", "barks", "sleeps") * 8)
# ../shared/data beside the clone (or beside a directory holding it, for a worktree)
NSMC = next(
    (p / "shared/data/nsmc/valid.tsv" for p in Path(__file__).resolve().parents
     if (p / "shared/data/nsmc").is_dir()),
    Path("../shared/data/nsmc/valid.tsv"),
)  # fmt: skip
KOREAN_LINES = 300  # of NSMC's validation reviews: enough for small Korean models


def korean_reviews() -> list[str]:
    """The first ``KOREAN_LINES`` label<TAB>text lines of NSMC's validation part."""
    if not NSMC.is_file():
        missing(f"{NSMC} is not there; the Korean playground tests read NSMC (../shared/data)")
    with open(NSMC, encoding="utf-8") as f:
        return [next(f) for _ in range(KOREAN_LINES)]


@pytest.fixture(scope="session")
def model_dirs(tmp_path_factory):
    """Checkpoint directories by name: a model of every kind the playground serves, a
    second language model (an LSTM, to compare), one conditioned on a label and one on a
    vector, and a Korean language model and sentiment classifier."""
    d = tmp_path_factory.mktemp("served")
    (d / "fox.txt").write_text(FOX * 8, encoding="utf-8")
    (d / "sms.tsv").write_text(sms_lines(120), encoding="utf-8")
    (d / "pos.tsv").write_text(POS, encoding="utf-8")
    (d / "addition.txt").write_text(QUESTIONS, encoding="utf-8")
    reviews = korean_reviews()
    (d / "ko.tsv").write_text("".join(reviews), encoding="utf-8")
    (d / "ko.txt").write_text("".join(r.split("\t", 1)[1] for r in reviews), encoding="utf-8")
    np.save(d / "vectors.npy", np.random.default_rng(0).normal(size=(24, 2)))
    small = ["--embed", "8", "--hidden", "16"]
    runs = {
        "lm": ["train", "--train", d / "fox.txt", "--max-steps", "30", "--batch", "4"],
        "classifier": ["classify", "train", "--data", d / "sms.tsv", "--epochs", "2"],
        "tagger": ["tag", "train", "--train", d / "pos.tsv", "--epochs", "2"],
        "translator": [
            *("translate", "train", "--data", d / "addition.txt", "--format", "qa"),
            *("--level", "char", "--reverse-source", "--epochs", "2", "--batch", "4"),
        ],
        "lstm": [
            *("train", "--data", d / "fox.txt", "--cell", "lstm", "--layers", "2"),
            *("--max-steps", "30", "--batch", "4"),
        ],
        "sms-label": [
            *("train", "--data", d / "sms.tsv", "--condition", "label", "--level", "char"),
            *("--batch", "8", "--epochs", "6", "--embed", "16", "--hidden", "32"),
        ],
        "vector": [
            *("train", "--train", d / "fox.txt", "--vectors", d / "vectors.npy"),
            *("--condition", "vector", "--max-steps", "10", "--batch", "4"),
        ],
        "ko-lm": [
            *("train", "--data", d / "ko.txt", "--level", "char", "--max-steps", "40"),
            *("--batch", "8", "--hidden", "32"),
        ],
        "ko-sentiment": [
            *("classify", "train", "--data", d / "ko.tsv", "--level", "char", "--epochs", "1"),
        ],
    }
    for name, args in runs.items():
        arguments = [*map(str, args), *small, "--out", str(d / name)]
        if "--hidden" in args:  # its own sizes
            arguments = [*map(str, args), "--out", str(d / name)]
        assert main(arguments) == 0, name
    return {name: d / name for name in runs}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(model_dirs):
    """``elman serve`` over every model, in a process of its own on a free loopback port;
    yields its URL."""
    require_module("starlette", "pip install 'elman[serve]'")
    require_module("uvicorn", "pip install 'elman[serve]'")
    port = free_port()
    models = [f"--model={name}={path}" for name, path in model_dirs.items()]
    process = subprocess.Popen(
        [sys.executable, "-m", "elman", "serve", *models, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUTF8": "1"},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(url + "/api/models", timeout=1).read()
            break
        except OSError:
            assert process.poll() is None, process.stderr.read()
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
    yield url
    process.terminate()
    process.wait(timeout=30)
