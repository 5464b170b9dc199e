"""A new kind of tokenizer needs nothing but its class: one defined here (two characters
a token), registered in this process alone, trains a language model and a classifier,
evaluates, generates, scores, is served by the playground and exported to ONNX, with
no other file of elman knowing of it. Everything asks the tokenizer, nothing switches on
its level."""

from __future__ import annotations

import json
from collections.abc import Iterable

import numpy as np
import pytest

from elman import kinds
from elman.cli import main
from elman.data.tokenizers import TOKENIZERS, UNK, Tokenizer
from tests.cli.test_classify import sms_lines
from tests.cli.test_lm import FOX, TINY
from tests.parts import require_module


class PairTokenizer(Tokenizer):
    """Each line cut into pairs of characters (the last may be one), then "\\n"."""

    level = "pairs"
    unit = "character pairs"
    specials = (UNK, "\n")
    sample_length = 40
    sample_unknown = False
    rules = ("Each line is cut into pairs of characters, then its line end (id 1).",)

    def __init__(self, tokens, normalize=None) -> None:
        super().__init__(tokens, normalize)
        self.eos_id = 1

    @staticmethod
    def _split(text: str) -> list[str]:
        tokens: list[str] = []
        for i, line in enumerate(text.split("\n")):
            tokens += ["\n"] if i else []
            tokens += [line[k : k + 2] for k in range(0, len(line), 2)]
        return tokens

    def decode(self, ids: Iterable[int]) -> str:
        return "".join("\ufffd" if i == 0 else self.tokens[i] for i in self._checked_ids(ids))


@pytest.fixture()
def pairs(monkeypatch):
    monkeypatch.setitem(TOKENIZERS, PairTokenizer.level, PairTokenizer)


def run(*args: object) -> None:
    assert main([str(a) for a in args]) == 0


def test_a_registered_tokenizer_runs_every_language_model_command(pairs, tmp_path, capsys):
    text = tmp_path / "fox.txt"
    text.write_text(FOX * 8, encoding="utf-8")
    out = tmp_path / "lm"
    run("train", "--train", text, "--valid", text, "--level", "pairs", "--max-steps", "20",
        "--out", out, *TINY)  # fmt: skip
    ckpt = kinds.load(out)
    assert isinstance(ckpt.tokenizer, PairTokenizer) and "fo" in ckpt.tokenizer
    capsys.readouterr()

    run("eval", "--model", out, "--data", text, "--json", "--batch", "1")
    figures = json.loads(capsys.readouterr().out)
    assert figures["tokens"] == len(ckpt.tokenizer.encode(FOX * 8)) - 1
    assert figures["chars"] == len(FOX * 8) - 2  # the first pair is read, not predicted
    assert figures["bits_per_char"] == pytest.approx(
        figures["loss"] * figures["tokens"] / np.log(2) / figures["chars"]
    )

    run("generate", "--model", out, "--prompt", "the ", "--length", "10", "--seed", "1")
    generated = capsys.readouterr().out
    assert generated.startswith("the ") and len(generated) > len("the \n")

    score = tmp_path / "lines.txt"
    score.write_text("the quick dog\n", encoding="utf-8")
    run("score", "--model", out, score, "--json")
    scored = json.loads(capsys.readouterr().out)
    assert scored["tokens"] == 8 and scored["chars"] == len("the quick dog\n")

    onnx = tmp_path / "lm.onnx"
    require_module("onnx", "export needs the onnx package")
    run("export", "--model", out, "--format", "onnx", onnx)
    description = json.loads(onnx.with_suffix(".json").read_text(encoding="utf-8"))
    assert description["tokenizer"]["level"] == "pairs"
    assert description["tokenizer"]["tokenization"] == list(PairTokenizer.rules)

    require_module("starlette", "the playground needs the [serve] extra")
    require_module("httpx2", "Starlette's test client needs httpx2")
    from starlette.testclient import TestClient

    from elman.serve.app import Served, create_app

    with TestClient(create_app([Served("pairs", ckpt)])) as client:
        reply = client.post("/api/generate", json={"model": "pairs", "prompt": "a ", "length": 5})
        assert reply.status_code == 200 and reply.json()["text"].startswith("a ")
        reply = client.post("/api/score", json={"model": "pairs", "text": "the dog"})
        assert reply.status_code == 200 and reply.json()["tokens"] == ["th", "e ", "do", "g", "\n"]
        reply = client.post("/api/units", json={"model": "pairs", "text": "the dog sleeps"})
        assert reply.status_code == 200 and reply.json()["tokens"][:2] == ["th", "e "]


def test_a_registered_tokenizer_trains_a_classifier(pairs, tmp_path):
    data = tmp_path / "sms.tsv"
    data.write_text(sms_lines(), encoding="utf-8")
    out = tmp_path / "clf"
    run("classify", "train", "--data", data, "--level", "pairs", "--epochs", "1", "--out", out,
        "--embed", "8", "--hidden", "8")  # fmt: skip
    ckpt = kinds.load(out)
    assert isinstance(ckpt.tokenizer, PairTokenizer)
    run("classify", "eval", "--model", out, "--data", data)
    run("classify", "predict", "--model", out, data)

    require_module("starlette", "the playground needs the [serve] extra")
    require_module("httpx2", "Starlette's test client needs httpx2")
    from starlette.testclient import TestClient

    from elman.serve.app import Served, create_app

    with TestClient(create_app([Served("pairs", ckpt)])) as client:
        reply = client.post("/api/classify", json={"model": "pairs", "text": "WIN 12345 NOW"})
        assert reply.status_code == 200 and reply.json()["label"] in ("ham", "spam")
