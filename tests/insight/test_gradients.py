"""The gradient through time: its norms against finite differences of a step-by-step
reference, and the three regimes on numbers (vanishing, exploding, gated memory)."""

import numpy as np
import pytest

import elman
from elman import insight
from elman.errors import ElmanError
from elman.lm.generate import line_start
from elman.nn import log_softmax
from tests.insight.conftest import HELD_OUT, HIDDEN, TOKENIZER
from tests.numeric import numerical_gradient

IDS = TOKENIZER.encode(HELD_OUT)


def model_of(cell, layers=1, hidden=5, dtype=np.float64, seed=0):
    config = elman.ModelConfig(
        vocab_size=len(TOKENIZER), embed=4, hidden=hidden, cell=cell, layers=layers
    )
    return elman.LanguageModel(config, seed=seed, dtype=dtype)


def last_step_loss(model, ids, T, layer, at, nudge, cell=False):
    """L_T = -log p(ids[T+1] | ..., ids[T]), read a token at a time with each layer's pure
    ``step`` after a line start, with ``nudge`` added to layer ``layer``'s h_at (or to its
    cell c_at, h_at = o_at tanh(c_at) following it) before anything reads it."""
    state = model.initial_state(1)
    for t, token in enumerate([line_start(TOKENIZER), *ids[: T + 1].tolist()]):
        x = model.embedding.params["W"][[token]]
        for i, rnn in enumerate(model.rnns):
            x_in, before = x, state[i]
            x, state[i] = rnn.step(x_in, before)
            if i == layer and t - 1 == at:  # t = 0 reads the line start
                if cell:
                    o = rnn.trace(x_in[:, None], before)["o"][:, 0]
                    c = state[i][1] + nudge
                    x = o * np.tanh(c)
                    state[i] = (x, c)
                else:
                    x = x + nudge
                    state[i] = (x, state[i][1]) if isinstance(state[i], tuple) else x
    logits = x @ model.output.params["W"] + model.output.params["b"]
    return float(-log_softmax(logits)[0, ids[T + 1]])


@pytest.mark.parametrize(
    "cell,layers", [("rnn", 1), ("rnn-relu", 1), ("gru", 1), ("lstm", 1), ("lstm", 2), ("rnn", 2)]
)
def test_norms_match_finite_differences(cell, layers):
    """At one position (so the mean is that position's norm), ||dL_T / dh_(T-k)|| of every
    layer, and ||dL_T / dc_(T-k)|| of an LSTM's, are the norms of the central-difference
    gradients of the step-by-step reference: the whole gradient, through later steps and
    through the layers above."""
    model = model_of(cell, layers)
    steps, T = 6, 20  # positions=1 picks the last position, T = 20 (warm states before it)
    ids = IDS[: T + 2]
    result = insight.gradient_norms(model, ids, TOKENIZER, steps=steps, positions=1)
    assert result.positions == 1 and len(result.norms) == layers
    assert (result.norms_c is not None) == (cell == "lstm")
    for layer in range(layers):
        for k in (0, 1, 3, steps):
            for cell_state in (False, True) if cell == "lstm" else (False,):
                nudge = np.zeros((1, 5))

                def loss(nudge=nudge, k=k, layer=layer, cell_state=cell_state):
                    return last_step_loss(model, ids, T, layer, T - k, nudge, cell_state)

                expected = np.linalg.norm(numerical_gradient(loss, nudge))
                got = (result.norms_c if cell_state else result.norms)[layer][k]
                assert got == pytest.approx(expected, rel=1e-6, abs=1e-12), (layer, k)
    assert model.state == [None] * layers  # the model is left as it was
    assert not model.flat_grads.any()


def scaled_rnn(cell, radius, seed=0, embed_scale=1.0, warmup=None):
    """An untrained float64 RNN of HIDDEN units, its W_h scaled to spectral radius ``radius``."""
    model = model_of(cell, hidden=HIDDEN, seed=seed)
    model.embedding.params["W"] *= embed_scale
    insight.scale_recurrent(model, radius / insight.spectral_radius(model.rnns[0].params["W_h"]))
    assert insight.spectral_radius(model.rnns[0].params["W_h"]) == pytest.approx(radius)
    return insight.gradient_norms(model, IDS, TOKENIZER, steps=50, warmup=warmup)


def test_vanishing_tanh_rnn_at_spectral_radius_one_half():
    """|tanh'| <= 1 and W_h orthogonal times 0.5, so each step back at least halves the
    gradient: over 50 steps it falls by more than 12 orders of magnitude."""
    result = scaled_rnn("rnn", 0.5)
    norms = np.array(result.norms[0])
    assert result.ratio(50) < 1e-12
    assert (norms[1:] < norms[:-1]).all()
    assert (norms[1:] / norms[:-1] <= 0.5 + 1e-9).all()  # the bound ||W_h|| = 0.5


def test_exploding_relu_rnn_at_spectral_radius_three():
    """A ReLU RNN with small inputs and W_h at spectral radius 3, each window read from a
    zero state (the state itself grows 3-fold a step, so over the whole text it would
    overflow): nothing saturates, and the gradient grows by orders of magnitude going
    back. A tanh RNN with the same W_h, warmed up on the text, is saturated, which
    multiplies the gradient by tanh' < 1 at every step: it grows far less."""
    relu = scaled_rnn("rnn-relu", 3.0, embed_scale=0.01, warmup=0)
    assert relu.ratio(50) > 1e6
    assert relu.ratio(10) > 10
    tanh = scaled_rnn("rnn", 3.0, embed_scale=0.01)
    assert tanh.ratio(50) < relu.ratio(50) / 1e3


def test_gated_memory_trained_lstm_reaches_further_back_than_trained_rnn(trained_models):
    """An LSTM and a tanh RNN of the same size, trained alike on the same quoted text:
    the LSTM keeps far more of its gradient 20 and 50 steps back (held-out text)."""
    lstm = insight.gradient_norms(trained_models["lstm"], IDS, TOKENIZER, steps=50)
    rnn = insight.gradient_norms(trained_models["rnn"], IDS, TOKENIZER, steps=50)
    assert lstm.ratio(20) > 10 * rnn.ratio(20)
    assert lstm.ratio(50) > 1e3 * rnn.ratio(50)


def test_the_model_is_left_unchanged_and_errors_are_sentences():
    model = model_of("lstm")
    before = model.flat_params.copy()
    insight.gradient_norms(model, IDS[:100], TOKENIZER, steps=10, positions=7)
    assert np.array_equal(model.flat_params, before)
    with pytest.raises(ElmanError, match="--steps 50 needs at least 52"):
        insight.gradient_norms(model, IDS[:30], TOKENIZER, steps=50)
    with pytest.raises(ElmanError, match="--positions"):
        insight.gradient_norms(model, IDS, TOKENIZER, steps=5, positions=0)
    with pytest.raises(ElmanError, match="finite"):
        insight.scale_recurrent(model, float("nan"))


def test_positions_are_spread_and_each_has_its_context():
    where = insight.gradients.positions_in(100, 10, 5)
    assert where.tolist() == [10, 32, 54, 76, 98]
    assert insight.gradients.positions_in(12, 10, 50).tolist() == [10]
    assert insight.gradients.positions_in(100, 10, 1, warmup=5).tolist() == [98]
    assert insight.gradients.positions_in(17, 10, 9, warmup=5).tolist() == [15]


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_a_warmup_as_long_as_the_text_before_gives_the_same_norms(cell):
    """States found by reading N tokens before each window from a line start equal those
    of one pass over the text when N is all the text before (the one window at the end)."""
    model = model_of(cell)
    ids = IDS[:40]
    whole = insight.gradient_norms(model, ids, TOKENIZER, steps=8, positions=1)
    warm = insight.gradient_norms(model, ids, TOKENIZER, steps=8, positions=1, warmup=38 - 8)
    np.testing.assert_allclose(warm.norms, whole.norms, rtol=1e-10)
    zero = insight.gradient_norms(model, ids, TOKENIZER, steps=8, positions=3, warmup=0)
    assert zero.positions == 3
