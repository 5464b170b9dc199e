"""Small trained models of every kind the playground serves, made once for its tests, and
``elman serve`` over them on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from elman.cli import main
from tests.cli.test_classify import sms_lines
from tests.cli.test_lm import FOX
from tests.cli.test_translate import QUESTIONS
from tests.parts import require_module

POS = "".join(f"the\tDET\ndog\tNOUN\n{w}\tVERB\n\n" for w in ("runs", "barks", "sleeps") * 8)


@pytest.fixture(scope="session")
def model_dirs(tmp_path_factory):
    """{"lm": ..., "classifier": ..., "tagger": ..., "translator": ...}: checkpoint
    directories."""
    d = tmp_path_factory.mktemp("served")
    (d / "fox.txt").write_text(FOX * 8, encoding="utf-8")
    (d / "sms.tsv").write_text(sms_lines(), encoding="utf-8")
    (d / "pos.tsv").write_text(POS, encoding="utf-8")
    (d / "addition.txt").write_text(QUESTIONS, encoding="utf-8")
    small = ["--embed", "8", "--hidden", "16"]
    runs = {
        "lm": ["train", "--train", d / "fox.txt", "--max-steps", "30", "--batch", "4"],
        "classifier": ["classify", "train", "--data", d / "sms.tsv", "--epochs", "2"],
        "tagger": ["tag", "train", "--train", d / "pos.tsv", "--epochs", "2"],
        "translator": [
            *("translate", "train", "--data", d / "addition.txt", "--format", "qa"),
            *("--level", "char", "--reverse-source", "--epochs", "2", "--batch", "4"),
        ],
    }
    for name, args in runs.items():
        assert main([*map(str, args), *small, "--out", str(d / name)]) == 0
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
