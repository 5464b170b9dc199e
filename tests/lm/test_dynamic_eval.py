"""Dynamic evaluation: every token scored once and before the model learns from it, the
trained weights left untouched, adaptation that pays on repeated text, and the
learning-rate search."""

import math

import numpy as np
import pytest

from elman import blas
from elman.errors import ElmanError
from elman.lm import dynamic_eval
from elman.lm.dynamic_eval import Diverged, dynamic_evaluate_ids, tune_lr
from elman.lm.evaluate import evaluate_ids
from elman.lm.model import LanguageModel, LanguageModelConfig

V = 12


def make_model(cell: str = "lstm", softmax: str = "full", state: str = "carry") -> LanguageModel:
    config = LanguageModelConfig(
        vocab_size=V, embed=8, hidden=16, cell=cell, softmax=softmax, state=state, dropout=0.3
    )
    if softmax == "adaptive":
        config.cutoffs = "4,8"
    model = LanguageModel(config, seed=1, dtype=np.float64)
    model.flat_params *= 3  # predictions that depend on the context
    return model


def random_ids(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, V, n)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("softmax", ["full", "adaptive"])
def test_a_vanishing_rate_is_static_evaluation_of_one_stream(cell, softmax):
    """Every token after the first is scored exactly once, with dropout off: with a rate
    too small to move the weights the result is the static one at batch 1."""
    model = make_model(cell, softmax)
    ids = random_ids(103)
    static = evaluate_ids(model, ids, batch=1, bptt=10)
    dynamic = dynamic_evaluate_ids(model, ids, lr=1e-300, bptt=10)
    assert dynamic.tokens == static.tokens == 102
    assert dynamic.loss == pytest.approx(static.loss, rel=1e-12)
    assert model.training  # as it was


@pytest.mark.parametrize("lr", [0.5, 50.0])
def test_each_chunk_is_scored_before_the_step_on_it(lr):
    """A text of one chunk is scored with the trained weights whatever the rate, and
    two chunks differ from the static score only in the second."""
    model = make_model()
    one_chunk = random_ids(11)
    static = evaluate_ids(model, one_chunk, batch=1, bptt=10)
    assert dynamic_evaluate_ids(model, one_chunk, lr, bptt=10).loss == pytest.approx(
        static.loss, rel=1e-12
    )
    two_chunks = random_ids(21)
    first = evaluate_ids(model, two_chunks[:11], batch=1, bptt=10).loss * 10
    both = dynamic_evaluate_ids(model, two_chunks, lr, bptt=10).loss * 20
    assert both - first != pytest.approx(evaluate_ids(model, two_chunks, 1, 10).loss * 20 - first)


def test_the_trained_weights_are_restored():
    model = make_model()
    before = model.flat_params.copy()
    dynamic_evaluate_ids(model, random_ids(60), lr=1.0, bptt=7)
    np.testing.assert_array_equal(model.flat_params, before)
    with pytest.raises(Diverged, match="use a smaller rate"):
        dynamic_evaluate_ids(model, random_ids(60), lr=1e300, bptt=7)
    np.testing.assert_array_equal(model.flat_params, before)


def test_a_text_the_model_finds_hard_is_not_divergence():
    """The rule compares each chunk with the larger of log V and the trained model's loss
    on the first chunk: a model confidently wrong about the whole text (loss far above
    3 log V from the start) is scored, not stopped."""
    model = make_model()
    model.params["output.b"][0] = 60.0  # predicts id 0 everywhere, which the text lacks
    ids = 1 + random_ids(60) % (V - 1)
    static = evaluate_ids(model, ids, batch=1, bptt=7)
    assert static.loss > 3 * max(math.log(V), 10)
    dynamic = dynamic_evaluate_ids(model, ids, lr=1e-3, bptt=7)
    assert dynamic.loss == pytest.approx(static.loss, rel=1e-2)


@pytest.mark.parametrize("state", ["carry", "reset"])
def test_it_learns_a_repeated_text(state):
    """A random 'sentence' repeated 20 times: the adapting model predicts the repeats far
    better than the fixed one; the pull back to the trained weights (decay) gives up
    part of that gain."""
    model = make_model("lstm", state=state)
    sentence = np.append(random_ids(15, seed=4) % (V - 1) + 1, 0)  # 0 ends each line
    ids = np.tile(sentence, 20)
    static = evaluate_ids(model, ids, batch=1, bptt=8, eos_id=0).perplexity
    adapted = dynamic_evaluate_ids(model, ids, lr=1.0, bptt=8, eos_id=0, clip=1.0).perplexity
    pulled = dynamic_evaluate_ids(model, ids, 1.0, 8, eos_id=0, decay=0.2, clip=1.0).perplexity
    assert adapted < static / 2
    assert adapted < pulled < static


@pytest.mark.parametrize(
    "bad, message",
    [({"lr": 0.0}, "must be positive"), ({"decay": 1.0}, r"must be in \[0, 1\)")],
)
def test_bad_settings_are_refused(bad, message):
    settings = {"lr": 1.0, "bptt": 5, **bad}
    with pytest.raises(ElmanError, match=message):
        dynamic_evaluate_ids(make_model(), random_ids(20), **settings)


@pytest.mark.parametrize("best", [0.01, 0.1, 1.0, 3.0, 100.0, math.sqrt(3), math.sqrt(300)])
def test_the_search_walks_to_the_best_rate(monkeypatch, best):
    """On a loss with one minimum over log(rate) the walk ends at it, trying few rates:
    a rate of the grid, or the midpoint next to the best rate of the grid."""
    tried = []

    def fake(model, ids, lr, *args):
        tried.append(lr)
        return dynamic_eval.Evaluation(loss=5 + (math.log10(lr) - math.log10(best)) ** 2, tokens=1)

    monkeypatch.setattr(dynamic_eval, "dynamic_evaluate_ids", fake)
    lr, losses = tune_lr(None, None, bptt=5)
    assert lr == pytest.approx(best, rel=1e-12)
    assert sorted(losses) == sorted(tried) and len(set(tried)) == len(tried)
    assert losses[lr] == min(losses.values())
    assert len(tried) <= 8


def test_the_search_goes_below_rates_that_diverge(monkeypatch):
    def fake(model, ids, lr, *args):
        if lr >= 0.3:
            raise Diverged("diverged")
        return dynamic_eval.Evaluation(loss=5 - lr, tokens=1)

    monkeypatch.setattr(dynamic_eval, "dynamic_evaluate_ids", fake)
    lr, losses = tune_lr(None, None, bptt=5)
    assert lr == pytest.approx(math.sqrt(0.1 * 0.3))  # best of the grid 0.1, then a midpoint
    assert losses[1.0] == losses[0.3] == math.inf


def test_the_search_gives_up_when_every_rate_diverges(monkeypatch):
    def fake(model, ids, lr, *args):
        raise Diverged("diverged")

    monkeypatch.setattr(dynamic_eval, "dynamic_evaluate_ids", fake)
    with pytest.raises(ElmanError, match="diverged at every learning rate"):
        tune_lr(None, None, bptt=5)


def test_dynamic_evaluation_chooses_its_blas_threads_and_gives_the_count_back(
    blas_at_two_threads, monkeypatch
):
    """Each chunk runs under elman.blas (one thread for the first chunks); the library's
    own count comes back at the end, also when the rate diverges."""
    model = make_model()
    seen: list[set[int]] = []
    forward = model.forward

    def counted(*args):
        seen.append(blas_at_two_threads())
        return forward(*args)

    monkeypatch.setattr(model, "forward", counted)
    dynamic_evaluate_ids(model, random_ids(60), lr=1.0, bptt=7)
    first = blas.WARMUP + blas.SAMPLES
    assert len(seen) > first and seen[:first] == [{1}] * first
    assert blas_at_two_threads() == {2}
    with pytest.raises(Diverged):
        dynamic_evaluate_ids(model, random_ids(60), lr=1e300, bptt=7)
    assert blas_at_two_threads() == {2}
