"""ONNX export of a classifier, run by onnxruntime against elman's NumPy model on the same
weights: right-padded texts of unequal lengths, each pooling, one or two directions."""

import json

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="ONNX export needs the onnx package")
ort = pytest.importorskip("onnxruntime", reason="the ONNX tests run the model in onnxruntime")

from elman.blocks.encoder import EncoderConfig  # noqa: E402
from elman.classify import checkpoint  # noqa: E402
from elman.classify.model import Classifier, ClassifierConfig  # noqa: E402
from elman.data.tokenizers import WordTokenizer  # noqa: E402
from elman.onnx_export import export  # noqa: E402

CASES = [
    ("rnn", True, "final"),
    ("rnn-relu", False, "final"),
    ("lstm", True, "final"),
    ("gru", True, "final"),
    ("lstm", True, "mean"),
    ("gru", False, "max"),
]


@pytest.mark.parametrize(("cell", "bidirectional", "pooling"), CASES)
def test_logits_equal_elmans_on_padded_texts(tmp_path, cell, bidirectional, pooling):
    tokenizer = WordTokenizer.fit("win a prize now call free text me later ok see you\n")
    config = EncoderConfig(
        vocab_size=len(tokenizer),
        embed=8,
        hidden=12,
        cell=cell,
        layers=2,
        bidirectional=bidirectional,
    )
    model = Classifier(config, classes=3, pooling=pooling, seed=2)
    ckpt = checkpoint.ClassifierCheckpoint(
        model, tokenizer, ["ham", "spam", "other"], ClassifierConfig(pooling=pooling)
    )
    checkpoint.save(tmp_path / "ckpt", ckpt)
    description = export(tmp_path / "ckpt", tmp_path / "model.onnx")
    assert description["labels"] == ["ham", "spam", "other"]
    assert json.loads((tmp_path / "model.json").read_text())["pooling"] == pooling
    rng = np.random.default_rng(1)
    lengths = np.array([7, 1, 4, 7, 2])
    ids = rng.integers(0, len(tokenizer), (5, 7))
    ids[np.arange(7) >= lengths[:, None]] = 0  # right-padded
    session = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    (logits,) = session.run(["logits"], {"input_ids": ids, "lengths": lengths})
    np.testing.assert_allclose(logits, model.logits(ids, lengths), rtol=0, atol=1e-5)
