"""The torch backend's classifier against the NumPy engine's, on identical initial weights
and data: the loop's first 20 losses (shuffled batches, dropout, class weights), the
weights after them, and each backend evaluating the other's checkpoint."""

import json

import numpy as np
import pytest

pytest.importorskip("torch", reason="the torch backend needs PyTorch")

from elman.blocks.encoder import EncoderConfig  # noqa: E402
from elman.classify import checkpoint  # noqa: E402
from elman.classify.data import encode  # noqa: E402
from elman.classify.evaluate import evaluate  # noqa: E402
from elman.classify.model import Classifier, ClassifierConfig  # noqa: E402
from elman.classify.task import ClassifierTask  # noqa: E402
from elman.config import TrainConfig  # noqa: E402
from elman.data.labeled import Example  # noqa: E402
from elman.data.tokenizers import WordTokenizer  # noqa: E402
from elman.torch_backend import TorchClassifier  # noqa: E402
from elman.training import METRICS_FILE, Trainer  # noqa: E402

WORDS = "win a prize now call free text me later ok see you at home tonight".split()


def examples(n: int, seed: int) -> list[Example]:
    rng = np.random.default_rng(seed)
    found = []
    for i in range(n):
        words = rng.choice(WORDS, rng.integers(1, 9))
        label = "spam" if "prize" in words or "free" in words else ["ham", "other"][i % 2]
        found.append(Example(label, " ".join(words), f"line {i}"))
    return found


def trained(model, tokenizer, labels, pooling, weights, out):
    config = TrainConfig(batch=6, max_steps=20, log_every=1, eval_batch=8, seed=2)
    ckpt = checkpoint.ClassifierCheckpoint(
        model, tokenizer, labels, ClassifierConfig(pooling=pooling, class_weights=weights), config
    )
    train, valid = (
        encode(examples(n, s), tokenizer, labels, True, 0) for n, s in [(60, 0), (9, 1)]
    )
    out.mkdir()
    Trainer(ClassifierTask(ckpt, train, valid), config, out, progress=False).run()
    records = [json.loads(line) for line in (out / METRICS_FILE).read_text().splitlines()]
    return [r["loss"] for r in records if r["event"] == "step"], valid


@pytest.mark.parametrize(
    ("cell", "bidirectional", "pooling", "weights"),
    [
        ("gru", True, "final", "none"),
        ("lstm", True, "mean", "balanced"),
        ("rnn", False, "max", "none"),
        ("lstm", False, "final", "balanced"),
    ],
)
def test_the_first_20_losses_equal_the_numpy_engines(
    tmp_path, cell, bidirectional, pooling, weights
):
    tokenizer = WordTokenizer.fit(" ".join(WORDS))
    labels = ["ham", "other", "spam"]
    config = EncoderConfig(
        vocab_size=len(tokenizer),
        embed=8,
        hidden=10,
        cell=cell,
        layers=2,
        bidirectional=bidirectional,
        dropout=0.2,
    )
    numpy_model = Classifier(config, 3, pooling, seed=2)
    torch_model = TorchClassifier(Classifier(config, 3, pooling, seed=2))
    a, valid = trained(numpy_model, tokenizer, labels, pooling, weights, tmp_path / "numpy")
    b, _ = trained(torch_model, tokenizer, labels, pooling, weights, tmp_path / "torch")
    assert len(a) == len(b) == 20
    np.testing.assert_allclose(b, a, rtol=1e-5)
    for name, value in torch_model.params.items():
        np.testing.assert_allclose(value, numpy_model.params[name], atol=2e-5, err_msg=name)
    # Each backend reads the other's checkpoint alike.
    for saved in ("numpy", "torch"):
        loaded = checkpoint.load(tmp_path / saved).model
        ours = evaluate(loaded, valid, 4)
        theirs = evaluate(TorchClassifier(loaded), valid, 4)
        assert theirs.loss == pytest.approx(ours.loss, rel=1e-5)
