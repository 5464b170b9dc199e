"""The torch backend's tagger against the NumPy engine's, on identical initial weights and
data: the loop's first 20 losses (shuffled batches, word dropout, character features,
dropout), the weights after them, and each backend evaluating the other's checkpoint."""

import json

import numpy as np
import pytest

pytest.importorskip("torch", reason="the torch backend needs PyTorch")

from elman import tag as tg  # noqa: E402
from elman.blocks.encoder import EncoderConfig  # noqa: E402
from elman.config import TrainConfig  # noqa: E402
from elman.data.conllu import Sentence  # noqa: E402
from elman.tag import checkpoint  # noqa: E402
from elman.tag.evaluate import evaluate  # noqa: E402
from elman.tag.task import TaggerTask  # noqa: E402
from elman.torch_backend import TorchTagger  # noqa: E402
from elman.training import METRICS_FILE, Trainer  # noqa: E402

WORDS = [("the", "DET"), ("a", "DET"), ("dog", "NOUN"), ("Cats", "NOUN"), ("barks", "VERB")]
WORDS += [("runs", "VERB"), ("loudly", "ADV"), ("now", "ADV"), (".", "PUNCT")]


def sentences(n: int, seed: int) -> list[Sentence]:
    rng = np.random.default_rng(seed)
    found = []
    for i in range(n):
        picked = [WORDS[k] for k in rng.integers(0, len(WORDS), rng.integers(1, 8))]
        found.append(Sentence([w for w, _ in picked], [t for _, t in picked], i + 1))
    return found


@pytest.mark.parametrize(
    ("cell", "chars", "bidirectional", "kind"),
    [
        ("lstm", True, True, "standard"),
        ("gru", False, True, "locked"),
        ("rnn", True, False, "standard"),
    ],
)
def test_the_first_20_losses_equal_the_numpy_engines(tmp_path, cell, chars, bidirectional, kind):
    tagger_config = tg.TaggerConfig(chars=chars, char_embed=4, char_hidden=5, word_dropout=1.0)
    train, valid = sentences(50, 0), sentences(8, 1)
    words, chars_vocab, tags = tg.build_vocabularies(train, tagger_config.lowercase)
    config = EncoderConfig(
        vocab_size=len(words),
        embed=6,
        hidden=8,
        cell=cell,
        layers=2,
        bidirectional=bidirectional,
        dropout=0.2,
        dropout_kind=kind,
    )
    settings = TrainConfig(batch=5, max_steps=20, log_every=1, eval_batch=4, seed=3)
    data = [tg.encode(s, words, chars_vocab, tags, True) for s in (train, valid)]
    losses, models = [], []
    for backend in ("numpy", "torch"):
        model = tg.Tagger(config, tagger_config, len(chars_vocab), len(tags), seed=3)
        model = model if backend == "numpy" else TorchTagger(model)
        ckpt = checkpoint.TaggerCheckpoint(model, words, chars_vocab, tags, settings)
        (tmp_path / backend).mkdir()
        Trainer(TaggerTask(ckpt, *data), settings, tmp_path / backend, progress=False).run()
        records = (tmp_path / backend / METRICS_FILE).read_text().splitlines()
        losses.append([r["loss"] for r in map(json.loads, records) if r["event"] == "step"])
        models.append(model)
    assert len(losses[0]) == len(losses[1]) == 20
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-5)
    for name, value in models[1].params.items():
        np.testing.assert_allclose(value, models[0].params[name], atol=2e-5, err_msg=name)
    for saved in ("numpy", "torch"):
        loaded = checkpoint.load(tmp_path / saved).model
        ours, theirs = evaluate(loaded, data[1], 4), evaluate(TorchTagger(loaded), data[1], 4)
        assert theirs.loss == pytest.approx(ours.loss, rel=1e-5)
        assert theirs.scores.accuracy == ours.scores.accuracy
