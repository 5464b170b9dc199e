"""One-to-many: a language model conditioned on a label or a vector. Its gradients against
finite differences (the label embedding included), the plain language model when the
conditioning weights are zero, a vector condition learnt to spell out digits, and
generation, scoring and evaluation given a condition."""

from __future__ import annotations

import numpy as np
import pytest

from elman.config import ModelConfig
from elman.data.tokenizers import CharTokenizer, WordTokenizer
from elman.errors import ElmanError
from elman.lm.checkpoint import Checkpoint
from elman.lm.conditioned import ConditionConfig, ConditionedLanguageModel
from elman.lm.config import LanguageModelTrainConfig
from elman.lm.evaluate import evaluate
from elman.lm.generate import generate, score
from elman.lm.model import LanguageModel
from elman.lm.task import LanguageModelTask
from elman.training import Trainer
from tests.numeric import assert_close, numerical_gradient

V, B, T = 9, 3, 5
WORDS = "zero one two three four five six seven eight nine".split()


def make(cell="gru", condition="label", peeky=True, bridge=True, layers=2, seed=3, **config):
    model_config = ModelConfig(vocab_size=V, embed=4, hidden=5, cell=cell, layers=layers, **config)
    conditioning = ConditionConfig(
        condition=condition, condition_size=3, peeky=peeky, bridge=bridge
    )
    return ConditionedLanguageModel(
        model_config, conditioning, labels=4, seed=seed, dtype=np.float64
    )


def batch(seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, V, size=(B, T + 1))
    mask = np.ones((B, T), bool)
    mask[1, 3:] = False
    return ids[:, :-1], ids[:, 1:], mask, rng.integers(0, 4, size=B)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize(("peeky", "bridge"), [(True, True), (False, True), (True, False)])
def test_gradients_match_finite_differences(cell, peeky, bridge):
    """Every parameter, the label embedding ("condition.W") included, through the loss."""
    model = make(cell, peeky=peeky, bridge=bridge)
    model.flat_params *= 3
    inputs, targets, mask, labels = batch()

    def loss():
        return model.forward(inputs, targets, mask, labels)

    model.zero_grad()
    loss()
    model.backward()
    assert "condition.W" in model.params
    for name, grad in model.grads.items():
        assert_close(grad, numerical_gradient(loss, model.params[name]), rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_zero_conditioning_weights_give_the_plain_language_model(cell):
    """With the bridges and the peeky rows zero, the loss and the gradient of every other
    parameter equal those of LanguageModel (state reset per line) on the same weights, and
    the label embedding gets no gradient."""
    model = make(cell)
    model.flat_params *= 3
    for name, value in model.params.items():
        if name.startswith("bridge."):
            value[...] = 0
    model.params["rnn.0.W_x"][4:] = 0  # the peeky rows: those the condition enters by
    plain = LanguageModel(model.config, dtype=np.float64)
    for name, value in plain.params.items():
        value[...] = model.params[name] if name != "rnn.0.W_x" else model.params[name][:4]
    inputs, targets, mask, labels = batch(1)
    model.zero_grad()
    plain.zero_grad()
    loss = model.forward(inputs, targets, mask, labels)
    plain.reset_state()
    assert loss == pytest.approx(plain.forward(inputs, targets, mask), rel=1e-12)
    model.backward()
    plain.backward()
    for name, grad in plain.grads.items():
        ours = model.grads[name] if name != "rnn.0.W_x" else model.grads[name][:4]
        assert_close(ours, grad, rtol=1e-10, atol=1e-14)
    assert not np.any(model.grads["condition.W"])


def test_step_and_nll_agree_with_the_training_forward():
    model = make("lstm", dropout=0.0)
    inputs, targets, mask, labels = batch(2)
    loss = model.forward(inputs, targets, mask, labels)
    total, count, _ = model.nll(inputs, targets, mask, model.prepare(B, labels))
    assert total / count == pytest.approx(loss, rel=1e-12)
    logits, _ = model.logits(inputs, model.prepare(B, labels))
    state = model.prepare(B, labels)
    for t in range(T):
        step_logits, state = model.step(inputs[:, t], state)
        assert_close(step_logits, logits[:, t], rtol=1e-10, atol=1e-12)


def test_a_vector_condition_is_learnt_to_spell_out_its_digits():
    """Vectors one-hot encode three digits; each line spells them out ("three one four").
    Trained on 480 lines for a few seconds, the model writes the held-out 120 exactly, by
    greedy decoding given their vectors: at least 95% of them."""
    rng = np.random.default_rng(0)
    digits = rng.integers(0, 10, size=(600, 3))
    vectors = np.zeros((600, 30), np.float32)
    vectors[np.arange(600)[:, None], 10 * np.arange(3) + digits] = 1
    lines = [" ".join(WORDS[d] for d in row) for row in digits]
    train_text = "".join(line + "\n" for line in lines[:480])
    tok = WordTokenizer.fit(train_text)
    config = ModelConfig(vocab_size=len(tok), embed=16, hidden=64, cell="gru")
    condition = ConditionConfig(condition="vector", condition_size=30, peeky=True)
    model = ConditionedLanguageModel(config, condition, seed=0)
    train = LanguageModelTrainConfig(batch=16, epochs=12, lr=0.01)
    ckpt = Checkpoint(model, tok, train)
    task = LanguageModelTask(ckpt, tok.encode(train_text), None, conditions=(vectors[:480], None))
    Trainer(task, train, progress=False).run()
    written = [
        generate(
            model, tok, "", 10, temperature=0, condition=vectors[i : i + 1], stop_at_line_end=True
        )  # fmt: skip
        for i in range(480, 600)
    ]
    exact = np.mean([ours == line for ours, line in zip(written, lines[480:], strict=True)])
    assert exact >= 0.95
    # Evaluated given their own vectors, the held-out lines are nearly certain.
    held_out = "".join(line + "\n" for line in lines[480:])
    assert evaluate(model, tok, held_out, conditions=vectors[480:]).perplexity < 1.2


def test_generation_and_scoring_need_the_right_condition():
    text = "ab\nba\n"
    tok = CharTokenizer.fit(text)
    config = ModelConfig(vocab_size=len(tok), embed=4, hidden=6)
    model = ConditionedLanguageModel(config, ConditionConfig(condition="label"), labels=2)
    assert len(generate(model, tok, "", 5, condition=np.array([1]))) == 5
    (line,) = score(model, tok, ["ab"], condition=np.array([0]))
    assert line.tokens == 3
    with pytest.raises(ElmanError, match="trained with a label condition; give one"):
        generate(model, tok, "", 5)
    plain = LanguageModel(config)
    with pytest.raises(ElmanError, match="trained without a condition"):
        generate(plain, tok, "", 5, condition=np.array([1]))


def test_a_condition_must_enter_the_model_somewhere():
    with pytest.raises(ElmanError, match="keep --bridge or add --peeky"):
        ConditionConfig(condition="label", bridge=False, peeky=False)
