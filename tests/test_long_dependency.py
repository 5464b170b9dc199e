"""A dependency across 50 steps: the first token must be recalled after 50 random
distractors. Gated cells exist for this (Hochreiter & Schmidhuber 1997): the tanh
RNN's gradient through 50 multiplications by W_h and tanh' vanishes.

Each sequence is ``s d_1 ... d_50 ?`` with s in {0, 1}, distractors d_i drawn from
5 other tokens and a query token ``?``; only the prediction at ``?`` counts (a mask
on the loss), and it must be s. Guessing scores 50%.
"""

import numpy as np
import pytest

from elman.config import ModelConfig
from elman.model import LanguageModel
from elman.optim import Adam, clip_grad_norm

GAP, V, QUERY = 50, 8, 7


def sequences(rng, batch):
    first = rng.integers(0, 2, batch)
    inputs = np.concatenate(
        [first[:, None], rng.integers(2, QUERY, (batch, GAP)), np.full((batch, 1), QUERY)], axis=1
    )
    targets = np.zeros_like(inputs)
    targets[:, -1] = first
    mask = np.zeros(inputs.shape, bool)
    mask[:, -1] = True
    return inputs, targets, mask


def recall_accuracy(cell, steps=300, hidden=16, seed=0):
    """Train on fresh batches of 32 with Adam, then recall s on 500 new sequences."""
    rng = np.random.default_rng(seed)
    model = LanguageModel(ModelConfig(vocab_size=V, embed=8, hidden=hidden, cell=cell), seed=seed)
    optimizer = Adam(model.flat_params, lr=0.05)
    for _ in range(steps):
        inputs, targets, mask = sequences(rng, 32)
        model.reset_state()  # every sequence starts from a zero state
        model.zero_grad()
        model.forward(inputs, targets, mask)
        model.backward()
        clip_grad_norm(model.flat_grads, 1.0)
        optimizer.step(model.flat_grads)
    inputs, targets, _ = sequences(np.random.default_rng(99), 500)
    model.reset_state()
    predicted = model.logits(inputs)[:, -1].argmax(axis=1)
    return float(np.mean(predicted == targets[:, -1]))


@pytest.mark.parametrize("seed", [0, 1])
def test_gru_recalls_across_50_steps_where_the_tanh_rnn_of_the_same_size_guesses(seed):
    assert recall_accuracy("gru", seed=seed) > 0.95
    assert recall_accuracy("rnn", seed=seed) < 0.65
