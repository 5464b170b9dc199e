"""The language model with an adaptive softmax output (``softmax="adaptive"``): central
finite differences over the whole model, the loss against the full distribution that
``logits`` returns, evaluation and step() on it, the parameter names, and the settings
ModelConfig refuses with one sentence."""

import numpy as np
import pytest

from elman.errors import ElmanError
from elman.lm.config import LanguageModelConfig
from elman.lm.evaluate import evaluate_ids
from elman.lm.model import LanguageModel
from elman.nn import AdaptiveSoftmax
from tests.lm.test_model_cells import B, T, V, check_gradients, fix_masks, make_model
from tests.numeric import assert_close

ADAPTIVE = {"softmax": "adaptive", "cutoffs": "2,4", "div_value": 2.0}  # V = 7: 2 + 2 + 3


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_gradients_match_finite_differences(cell, monkeypatch):
    """Two layers, dropout 0.3 with fixed masks, the adaptive softmax on top: every
    parameter (head, both tail clusters, recurrent layers, embedding) against central
    differences in float64."""
    model = make_model(cell, layers=2, hidden=4, dropout=0.3, **ADAPTIVE)
    assert isinstance(model.output, AdaptiveSoftmax) and model.loss_layer is model.output
    masks = fix_masks(model, monkeypatch)
    check_gradients(model)
    assert len(masks) == 3


def test_parameter_names_and_shapes():
    """output.head.W (H, shortlist + clusters) and .b, output.tail.k.proj (H, H // 4^(k+1))
    and .out (that, |C_k|); no output.W; the flat buffer holds exactly these."""
    config = LanguageModelConfig(
        vocab_size=50, embed=3, hidden=16, softmax="adaptive", cutoffs="10,30"
    )
    model = LanguageModel(config)
    shapes = {name: p.shape for name, p in model.params.items() if name.startswith("output.")}
    assert shapes == {
        "output.head.W": (16, 12),
        "output.head.b": (12,),
        "output.tail.0.proj": (16, 4),
        "output.tail.0.out": (4, 20),
        "output.tail.1.proj": (16, 1),
        "output.tail.1.out": (1, 20),
    }
    assert sum(p.size for p in model.params.values()) == model.flat_params.size
    assert model.grads.keys() == model.params.keys()
    assert np.all(model.params["output.head.b"] == 0)


def test_default_cutoffs_are_resolved_into_the_config():
    """Empty --cutoffs: V // 5 and V // 2 (2000,5000 for PTB's 10,000 words), written
    into model.config so that the checkpoint names them."""
    config = LanguageModelConfig(vocab_size=10_000, embed=4, hidden=16, softmax="adaptive")
    assert config.cutoffs == "" and config.adaptive_cutoffs() == [2000, 5000]
    model = LanguageModel(config)
    assert model.config.cutoffs == "2000,5000"
    assert model.output.bounds == [2000, 5000, 10_000]
    assert model.params["output.tail.1.out"].shape == (1, 5000)  # 16 // 4^2 = 1


def test_loss_is_exact_and_logits_are_log_probabilities():
    """logits() of an adaptive model are log-probabilities (rows' logsumexp 0); forward's
    loss is -mean of them at the targets, with and without a mask; step() gives the
    same log-probabilities one token at a time."""
    model = make_model("gru", layers=2, hidden=4, **ADAPTIVE)
    rng = np.random.default_rng(3)
    ids = rng.integers(0, V, size=(B, T + 1))
    logp, _ = model.logits(ids[:, :-1])
    assert logp.shape == (B, T, V)
    assert_close(np.log(np.exp(logp).sum(axis=-1)), np.zeros((B, T)), atol=1e-12)
    picked = np.take_along_axis(logp, ids[:, 1:, None], axis=-1)[..., 0]
    mask = rng.random((B, T)) < 0.6
    for m in (None, mask):
        model.reset_state()
        loss = model.forward(ids[:, :-1], ids[:, 1:], m)
        weights = np.ones((B, T)) if m is None else m
        assert loss == pytest.approx(-(picked * weights).sum() / weights.sum(), rel=1e-12)
        assert model.loss_layer.count == weights.sum()

    state = model.initial_state(B)
    for t in range(T):
        step_logp, state = model.step(ids[:, t], state)
        assert_close(step_logp, logp[:, t], rtol=1e-12, atol=1e-14)


def test_evaluation_equals_the_full_distribution():
    """evaluate_ids (batched, chunked, through forward) gives the mean -log p of the
    full distribution from one logits() call over the whole text, in float32."""
    config = LanguageModelConfig(vocab_size=V, embed=3, hidden=8, **ADAPTIVE)
    model = LanguageModel(config, seed=2)
    model.flat_params *= 5
    ids = np.random.default_rng(4).integers(0, V, size=60)
    result = evaluate_ids(model, ids, batch=1, bptt=7)
    logp = model.logits(ids[None, :-1])[0].astype(np.float64)[0]
    model.reset_state()
    assert result.tokens == len(ids) - 1
    assert result.loss == pytest.approx(-logp[np.arange(len(ids) - 1), ids[1:]].mean(), rel=1e-5)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"softmax": "adaptive", "cutoffs": "5,3"}, "--cutoffs must be increasing positive"),
        ({"softmax": "adaptive", "cutoffs": "0,3"}, "--cutoffs must be increasing positive"),
        ({"softmax": "adaptive", "cutoffs": "2,x"}, "such as 2000,5000, got '2,x'"),
        ({"softmax": "adaptive", "cutoffs": "2,2"}, "--cutoffs must be increasing positive"),
        ({"cutoffs": "2,4"}, "add --softmax adaptive or leave them out"),
        ({"div_value": 2.0}, "add --softmax adaptive or leave them out"),
        ({"softmax": "adaptive", "tie": True, "embed": 8}, "drop --tie or use --softmax full"),
        ({"softmax": "adaptive", "div_value": 0.5}, "--div-value must be at least 1"),
        ({"softmax": "adaptive"}, "the last tail cluster (of 2) would project to 0.5"),
        ({"softmax": "adaptive", "cutoffs": "1,2,3,4"}, "lower --div-value or give fewer"),
        ({"softmax": "softer"}, "--softmax must be one of full, adaptive"),
    ],
)
def test_settings_refused(settings, message):
    with pytest.raises(ElmanError, match=message.replace("(", r"\(").replace(")", r"\)")):
        LanguageModelConfig(**{"vocab_size": 100, "embed": 4, "hidden": 8, **settings})


@pytest.mark.parametrize(
    ("vocab", "cutoffs", "message"),
    [
        (7, "2,7", "--cutoffs 2,7 must all be below the vocabulary size 7"),
        (4, "", "a vocabulary of 4 tokens is too small for the default --cutoffs"),
    ],
)
def test_cutoffs_refused_for_the_vocabulary(vocab, cutoffs, message):
    """Checked when the model is built, once the vocabulary size is known."""
    config = LanguageModelConfig(vocab_size=vocab, hidden=32, softmax="adaptive", cutoffs=cutoffs)
    with pytest.raises(ElmanError, match=message):
        LanguageModel(config)
