"""The whole language model: finite differences, state carry, perplexity by hand.

The comparison with PyTorch on identical weights, for every cell, is in
test_model_cells.py."""

import dataclasses

import numpy as np
import pytest

from elman.config import ModelConfig
from elman.lm.model import GROWN_BIAS, GROWN_SCALE, LanguageModel, fine_tuned
from tests.numeric import assert_close, numerical_gradient


def small_model(layers=1, dtype=np.float64, V=7, seed=0):
    return LanguageModel(
        ModelConfig(vocab_size=V, embed=3, hidden=4, layers=layers), seed=seed, dtype=dtype
    )


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("masked", [False, True])
def test_gradients_match_finite_differences(layers, masked):
    """Every parameter, through the loss, over a chunk that starts from a carried state."""
    rng = np.random.default_rng(0)
    model = small_model(layers)
    ids = rng.integers(0, 7, size=(2, 6))
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], bool) if masked else None
    model.forward(ids[:, :3], ids[:, 1:4])
    carried = model.state

    def loss():
        model.state = carried
        return model.forward(ids[:, :-1], ids[:, 1:], mask)

    model.zero_grad()
    loss()
    model.backward()
    for name, grad in model.grads.items():
        assert_close(grad, numerical_gradient(loss, model.params[name]), rtol=1e-5, atol=1e-8)


def test_parameters_are_views_of_one_flat_buffer():
    model = small_model(layers=2)
    assert sum(p.size for p in model.params.values()) == model.flat_params.size
    model.flat_params[:] = 0
    assert all(np.all(p == 0) for p in model.params.values())
    assert model.rnns[1].params["W_h"] is model.params["rnn.1.W_h"]


def test_initialisation_is_seeded_and_float32_by_default():
    a, b = (
        LanguageModel(ModelConfig(vocab_size=5), seed=3),
        LanguageModel(ModelConfig(vocab_size=5), seed=3),
    )
    assert a.dtype == np.float32
    assert np.array_equal(a.flat_params, b.flat_params)
    W_h = a.params["rnn.0.W_h"].astype(np.float64)
    assert_close(W_h @ W_h.T, np.eye(W_h.shape[0]), atol=1e-5)  # orthogonal


def test_zero_output_weights_give_perplexity_equal_to_vocabulary_size():
    model = small_model(V=11)
    model.params["output.W"][...] = 0
    ids = np.random.default_rng(1).integers(0, 11, size=(3, 9))
    assert np.exp(model.forward(ids[:, :-1], ids[:, 1:])) == pytest.approx(11)


def test_chunked_forward_equals_one_long_forward():
    rng = np.random.default_rng(2)
    model = small_model(layers=2)
    ids = rng.integers(0, 7, size=(3, 10))
    whole, _ = model.logits(ids)
    chunks, state = [], None
    for i in range(0, 10, 4):
        logits, state = model.logits(ids[:, i : i + 4], state)
        chunks.append(logits)
    assert_close(np.concatenate(chunks, axis=1), whole, rtol=1e-12)


def test_step_equals_logits_one_token_at_a_time():
    rng = np.random.default_rng(3)
    model = small_model(layers=2)
    ids = rng.integers(0, 7, size=(2, 5))
    expected, _ = model.logits(ids)
    state = model.initial_state(2)
    for t in range(5):
        logits, state = model.step(ids[:, t], state)
        assert_close(logits, expected[:, t], rtol=1e-12)


def test_the_loss_buffer_serves_every_training_step():
    """The (B*T, V) exponentials are the largest array of a step; a new one each step
    costs page faults, so the model's loss layer reuses one."""
    model = LanguageModel(ModelConfig(vocab_size=11, embed=4, hidden=5))
    ids = np.random.default_rng(9).integers(0, 11, size=(2, 6))
    buffers = []
    for _ in range(3):
        model.forward(ids[:, :-1], ids[:, 1:])
        model.backward()
        buffers.append(model.loss_layer.buffer)
    assert buffers[0] is not None and all(b is buffers[0] for b in buffers)


# Fine-tuning with a grown vocabulary (lm.model.fine_tuned) -------------------------------


def grown_pair(V=300, added=57, hidden=64, dtype=np.float32, softmax="full"):
    from elman.lm.config import LanguageModelConfig

    config = LanguageModelConfig(vocab_size=V, embed=16, hidden=hidden, layers=2, cell="lstm",
                                 softmax=softmax)  # fmt: skip
    old = LanguageModel(config, seed=1, dtype=dtype)
    rng = np.random.default_rng(5)
    old.flat_params[:] = rng.normal(0, 0.3, old.flat_params.shape)  # as if trained
    return old, dataclasses.replace(config, vocab_size=V + added)


def test_a_grown_model_keeps_every_old_weight_bit_for_bit_and_starts_new_tokens_small():
    old, config = grown_pair()
    new = fine_tuned(old, config, seed=3)
    V = old.config.vocab_size
    assert new.config.grown_from == str(V)
    for name, value in old.params.items():
        grown = {"embed.W": np.s_[:V], "output.W": np.s_[:, :V], "output.b": np.s_[:V]}
        kept = new.params[name][grown.get(name, ...)]
        assert kept.tobytes() == value.tobytes(), name
    assert np.abs(new.params["embed.W"][V:]).max() <= GROWN_SCALE
    assert np.abs(new.params["output.W"][:, V:]).max() <= GROWN_SCALE
    assert np.all(new.params["output.b"][V:] == GROWN_BIAS)
    again = fine_tuned(new, dataclasses.replace(config, vocab_size=V + 80), seed=3)
    assert again.config.grown_from == f"{V},{V + 57}"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_old_tokens_logits_on_old_text_are_bit_identical_before_the_first_step(dtype):
    """Whatever blocking the BLAS picks for the wider output product: each vocabulary's
    columns are a product of their own (Affine's segments)."""
    old, config = grown_pair(dtype=dtype)
    new = fine_tuned(old, config, seed=3)
    V = old.config.vocab_size
    ids = np.random.default_rng(7).integers(0, V, size=(8, 33))
    before, _ = old.logits(ids)
    after, _ = new.logits(ids)
    assert after[..., :V].tobytes() == before.tobytes()
    assert after[..., V:].max() < before.min(axis=-1).max() - 20  # new tokens start ~e^-30
    # the loss on old-only text is the old model's, to within the new tokens' mass
    loss_old = old.forward(ids[:, :-1], ids[:, 1:])
    loss_new = new.forward(ids[:, :-1], ids[:, 1:])
    assert loss_new == pytest.approx(loss_old, rel=1e-6)


def test_a_grown_model_has_the_gradients_of_finite_differences():
    old, config = grown_pair(V=7, added=3, hidden=4, dtype=np.float64)
    model = fine_tuned(old, config, seed=0)
    model.params["output.b"][7:] = 0.1  # not -30: finite differences of e^-30 say nothing
    ids = np.random.default_rng(0).integers(0, 10, size=(2, 6))
    start = model.initial_state(2)

    def loss():
        model.state = start
        return model.forward(ids[:, :-1], ids[:, 1:])

    model.zero_grad()
    loss()
    model.backward()
    for name, grad in model.grads.items():
        assert_close(grad, numerical_gradient(loss, model.params[name]), rtol=1e-5, atol=1e-8)


def test_an_adaptive_softmax_does_not_grow():
    from elman.errors import ElmanError

    old, config = grown_pair(V=300, softmax="adaptive")
    with pytest.raises(ElmanError, match="adaptive softmax.*without --grow-vocab"):
        fine_tuned(old, config)
