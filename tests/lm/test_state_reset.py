"""--state reset: evaluation against line-by-line scoring, against carried-state
evaluation, and training that starts every line from a zero state."""

import numpy as np
import pytest

from elman.data import CharTokenizer, WordTokenizer
from elman.data.batching import LineBatches
from elman.lm.config import LanguageModelTrainConfig
from elman.lm.evaluate import evaluate
from elman.lm.generate import score
from elman.lm.kind import train
from elman.lm.model import LanguageModel, LanguageModelConfig
from elman.nn import log_softmax

TEXT = "the quick brown fox\njumps over\nthe lazy dog\n\na dog sleeps in the sun\n"
TOKENIZERS = [CharTokenizer, WordTokenizer]


def make_model(tokenizer, state="reset", cell="lstm", seed=0, dtype=np.float64):
    config = LanguageModelConfig(
        vocab_size=len(tokenizer), embed=6, hidden=8, cell=cell, layers=2, state=state
    )
    model = LanguageModel(config, seed=seed, dtype=dtype)
    model.flat_params *= 3  # predictions that depend on the context
    return model


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("tokenizer_class", TOKENIZERS)
@pytest.mark.parametrize(("batch", "bptt"), [(1, 64), (2, 3), (10, 1)])
def test_evaluation_equals_the_sum_of_line_scores(tokenizer_class, cell, batch, bptt):
    """With the state reset at every line end, evaluate()'s total log-likelihood
    (-loss * tokens) is the sum of score()'s log_prob over the lines, and it counts
    every token, line ends included, whatever the batch and bptt."""
    tok = tokenizer_class.fit(TEXT)
    model = make_model(tok, cell=cell)
    result = evaluate(model, tok, TEXT, batch=batch, bptt=bptt)
    scores = list(score(model, tok, TEXT.split("\n")[:-1]))
    assert len(scores) == 5
    assert result.tokens == len(tok.encode(TEXT)) == sum(s.tokens for s in scores)
    assert -result.loss * result.tokens == pytest.approx(sum(s.log_prob for s in scores), rel=1e-10)


@pytest.mark.parametrize("tokenizer_class", TOKENIZERS)
def test_reset_evaluation_differs_from_carried_state(tokenizer_class):
    """The same weights with the state carried across lines score N - 1 tokens (not the
    first), each from the whole text before it: their total log-likelihood differs from
    that of the same targets read line by line."""
    tok = tokenizer_class.fit(TEXT)
    reset = make_model(tok, state="reset")
    carry = make_model(tok, state="carry")
    assert np.array_equal(carry.flat_params, reset.flat_params)
    reset_result = evaluate(reset, tok, TEXT, batch=1)
    carry_result = evaluate(carry, tok, TEXT, batch=1)
    assert carry_result.tokens == reset_result.tokens - 1
    # Take out the one prediction only reset makes, the first token after a line
    # start; the rest are the same targets, from other contexts.
    ids = tok.encode(TEXT)
    reset.reset_state()
    first = log_softmax(reset.logits(np.array([[tok.eos_id]]))[0])[0, 0, ids[0]]
    reset_total = -reset_result.loss * reset_result.tokens - first
    carry_total = -carry_result.loss * carry_result.tokens
    assert carry_total != pytest.approx(reset_total, rel=1e-6, abs=1e-6)


def spy_on_forward(model):
    """Record, for every model.forward call, its inputs, whether each layer's state was
    zero (None) on entry, and the loss."""
    calls = []
    original = model.forward

    def forward(inputs, targets, mask=None):
        zero = [state is None for state in model.state]
        loss = original(inputs, targets, mask)
        calls.append({"inputs": inputs.copy(), "zero_state": zero, "loss": loss})
        return loss

    model.forward = forward
    return calls


def test_training_resets_the_state_at_every_group_of_lines():
    """train() with --state reset reads LineBatches, its groups in a new order each epoch
    (``shuffled`` with the run's order generator, seeded [seed, 2]): every chunk that
    starts a group of lines starts from a zero state in every layer, later chunks of the
    group carry it; the loss goes down over three epochs."""
    tok = CharTokenizer.fit(TEXT)
    model = make_model(tok, dtype=np.float32)
    calls = spy_on_forward(model)
    config = LanguageModelTrainConfig(batch=2, bptt=5, epochs=3, lr=0.01)
    history = train(model, tok, TEXT, config=config, progress=False)
    batches = LineBatches(tok.encode(TEXT), tok.eos_id, 2, 5)
    order_rng = np.random.default_rng([config.seed, 2])
    epochs = [batches.shuffled(order_rng) for _ in range(3)]
    assert len({tuple(epoch.order) for epoch in epochs}) > 1  # a new order each epoch
    expected = [batch for epoch in epochs for batch in epoch]
    assert len(calls) == len(expected) == 3 * len(batches)
    for call, batch in zip(calls, expected, strict=True):
        assert np.array_equal(call["inputs"], batch.inputs)
        assert call["zero_state"] == [batch.reset] * 2
    assert history[-1]["train_loss"] < history[0]["train_loss"]


def test_the_first_batches_of_a_text_full_of_blank_lines_are_not_all_blank():
    """Sorted by length, a text's blank lines make its first groups: Tiny Shakespeare's
    first 225 batches of 32 (issue 26). Each epoch reads the groups in a new order."""
    text = "\n" * 300 + "".join(f"line {i} of the play\n" for i in range(300))
    tok = CharTokenizer.fit(text)
    batches = LineBatches(tok.encode(text), tok.eos_id, 10, 64)
    blank = [bool(np.all(b.targets[b.mask if b.mask is not None else ...] == tok.eos_id))
             for b in batches]  # fmt: skip
    assert all(blank[:30]) and not any(blank[30:])  # in order: 30 batches of blank lines
    rng = np.random.default_rng([0, 2])
    for _ in range(3):  # epochs
        first = [bool(np.all(b.targets == tok.eos_id)) for b in list(batches.shuffled(rng))[:10]]
        assert 0 < sum(first) < 10


@pytest.mark.parametrize(("state", "independent"), [("reset", True), ("carry", False)])
def test_training_loss_on_line_2_does_not_depend_on_line_1(state, independent):
    """Two corpora that differ only in line 1 ("ab" or "ba"), read one line per chunk: the
    training loss on line 2 is the same with --state reset and differs with the state
    carried. A learning rate of 1e-30 leaves the weights as they are, so the hidden
    state is the only way line 1 could reach line 2."""
    tok = CharTokenizer.fit("ab\nba\nxy\n")
    losses = []
    for text in ("ab\nxy\n", "ba\nxy\n"):
        model = make_model(tok, state=state, dtype=np.float32)
        calls = spy_on_forward(model)
        config = LanguageModelTrainConfig(batch=1, bptt=3, epochs=1, optimizer="sgd", lr=1e-30)
        train(model, tok, text, config=config, progress=False)
        assert len(calls) == 2
        losses.append(calls[-1]["loss"])
    if independent:
        assert losses[0] == pytest.approx(losses[1], rel=1e-6)
    else:
        assert losses[0] != pytest.approx(losses[1], rel=1e-3)
