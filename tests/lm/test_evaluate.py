"""Perplexity on held-out text against token counts, a whole-sequence computation and
the uniform distribution."""

import math

import numpy as np
import pytest

from elman import blas
from elman.config import ModelConfig
from elman.data import CharTokenizer, WordTokenizer
from elman.errors import ElmanError
from elman.lm.evaluate import Evaluation, evaluate, evaluate_ids, perplexity
from elman.lm.model import LanguageModel
from elman.nn import log_softmax

TEXT = "the quick brown fox jumps over the lazy dog\nthe dog sleeps\n"


def make_model(vocab_size: int, seed: int = 0, dtype=np.float64) -> LanguageModel:
    # Random weights at 3x the initial scale, so the predictions depend on the context.
    model = LanguageModel(
        ModelConfig(vocab_size=vocab_size, embed=8, hidden=16), seed=seed, dtype=dtype
    )
    model.flat_params *= 3
    return model


def direct_loss(model: LanguageModel, ids: np.ndarray) -> float:
    """Mean -log p(ids[t+1] | ids[:t+1]) from one ``model.logits`` call over the whole
    sequence, from h_0 = 0."""
    model.reset_state()
    logp = log_softmax(model.logits(ids[None, :-1])[0])[0]  # (N-1, V)
    model.reset_state()
    return float(-logp[np.arange(len(ids) - 1), ids[1:]].mean())


@pytest.mark.parametrize("batch", [1, 2, 3, 7, 10, 58, 59, 500])
def test_every_token_after_the_first_is_scored_once(batch):
    """N tokens give N - 1 predictions whatever the batch, also with batch > N - 1."""
    tok = CharTokenizer.fit(TEXT)
    ids = tok.encode(TEXT)
    assert len(ids) == 59
    result = evaluate_ids(make_model(len(tok)), ids, batch=batch, bptt=5)
    assert result.tokens == 58


@pytest.mark.parametrize("batch", [1, 3, 8])
def test_perplexity_does_not_depend_on_bptt(batch):
    """The state is carried between chunks, so cutting the streams into chunks of 1, 4,
    13 or 1000 steps gives the same result."""
    tok = CharTokenizer.fit(TEXT)
    ids = tok.encode(TEXT)
    model = make_model(len(tok))
    losses = [evaluate_ids(model, ids, batch, bptt).loss for bptt in (1, 4, 13, 1000)]
    assert losses == pytest.approx([losses[0]] * 4, rel=1e-10)


def test_batch_one_equals_one_pass_over_the_whole_sequence():
    """Batch 1 reads the text as one stream: the loss is the direct computation with
    model.logits over the whole sequence and log_softmax."""
    tok = CharTokenizer.fit(TEXT)
    ids = tok.encode(TEXT)
    model = make_model(len(tok))
    result = evaluate_ids(model, ids, batch=1, bptt=7)
    assert result.loss == pytest.approx(direct_loss(model, ids), rel=1e-12)
    assert result.perplexity == pytest.approx(math.exp(direct_loss(model, ids)), rel=1e-12)


def test_streams_are_scored_from_a_zero_state():
    """With batch B, each stream is an independent sequence from h_0 = 0: the total equals
    the sum of direct computations over the B pieces of the layout (with the target of a
    stream's last input being the next stream's first token)."""
    tok = CharTokenizer.fit(TEXT)
    ids = tok.encode(TEXT)  # 58 pairs in 3 streams of L = 20, 20 and 18 pairs
    model = make_model(len(tok))
    pieces = [ids[0:21], ids[20:41], ids[40:59]]
    total = sum(direct_loss(model, p) * (len(p) - 1) for p in pieces)
    assert evaluate_ids(model, ids, batch=3, bptt=6).loss == pytest.approx(total / 58, rel=1e-12)


def test_carried_state_of_the_model_is_ignored_and_left_alone():
    """Evaluation starts from h_0 = 0 whatever the model carried, and holds its own
    state: the training state carried in the layers is left as it was."""
    tok = CharTokenizer.fit(TEXT)
    ids = tok.encode(TEXT)
    model = make_model(len(tok))
    expected = evaluate_ids(model, ids, batch=1, bptt=8).loss
    model.hidden_states(ids[None, 10:30])  # the training path leaves a carried state
    carried = model.state[0].copy()
    assert evaluate_ids(model, ids, batch=1, bptt=8).loss == pytest.approx(expected, rel=1e-12)
    assert np.array_equal(model.state[0], carried)


def test_float32_model_agrees_with_float64():
    tok = CharTokenizer.fit(TEXT)
    ids = tok.encode(TEXT)
    m32, m64 = make_model(len(tok), dtype=np.float32), make_model(len(tok), dtype=np.float64)
    assert evaluate_ids(m32, ids, 4, 16).loss == pytest.approx(
        evaluate_ids(m64, ids, 4, 16).loss, rel=1e-5
    )


@pytest.mark.parametrize("tokenizer", [CharTokenizer, WordTokenizer])
def test_zero_output_layer_gives_perplexity_equal_to_vocabulary_size(tokenizer):
    """All-zero logits are the uniform distribution over V tokens: perplexity V."""
    tok = tokenizer.fit(TEXT)
    model = make_model(len(tok))
    model.params["output.W"][...] = 0
    model.params["output.b"][...] = 0
    result = evaluate(model, tok, TEXT, batch=2, bptt=4)
    assert result.perplexity == pytest.approx(len(tok), rel=1e-12)
    assert result.bits_per_token == pytest.approx(math.log2(len(tok)), rel=1e-12)
    assert perplexity(model, tok, TEXT) == pytest.approx(len(tok), rel=1e-12)


def test_unknown_tokens_are_counted_and_scored_as_unk():
    """'z', 'y' and 'q' (twice) are not in the vocabulary: 4 unknown tokens, scored as
    <unk>, i.e. the same loss as the text with <unk> ids in their place."""
    tok = WordTokenizer.fit(TEXT)
    model = make_model(len(tok))
    text = "the z fox y\nq the q dog\n"
    result = evaluate(model, tok, text, batch=1)
    assert result.unknown == 4
    ids = tok.encode(text)
    assert np.count_nonzero(ids == tok.unk_id) == 4
    assert result.tokens == len(ids) - 1 == 9
    assert result.loss == pytest.approx(direct_loss(model, ids), rel=1e-12)
    assert evaluate(model, tok, TEXT).unknown == 0


def test_as_dict_is_consistent():
    """Bits per character and byte: the loss summed over the tokens, in bits, over the
    characters (bytes) they write; not measured (0 characters), NaN, which JSON writes
    as null."""
    d = Evaluation(loss=2.0, tokens=9, unknown=1, chars=12, bytes=30).as_dict()
    assert d == {
        "perplexity": pytest.approx(math.exp(2.0)),
        "loss": 2.0,
        "bits_per_token": pytest.approx(2.0 / math.log(2)),
        "bits_per_char": pytest.approx(18.0 / math.log(2) / 12),
        "bits_per_byte": pytest.approx(18.0 / math.log(2) / 30),
        "tokens": 9,
        "chars": 12,
        "bytes": 30,
        "unknown": 1,
    }
    unmeasured = Evaluation(loss=2.0, tokens=9).as_dict()
    assert math.isnan(unmeasured["bits_per_char"]) and math.isnan(unmeasured["bits_per_byte"])


@pytest.mark.parametrize("text", ["a", ""])
def test_too_short_text_is_refused(text):
    tok = CharTokenizer.fit("abc")
    with pytest.raises(ElmanError, match="too short to evaluate"):
        evaluate(make_model(len(tok)), tok, text)


def counting(monkeypatch, model: LanguageModel, method: str, counts) -> list[set[int]]:
    """The BLAS thread counts in force at each call of ``model.method``, as it is called."""
    seen: list[set[int]] = []
    real = getattr(model, method)

    def counted(*args, **kwargs):
        seen.append(counts())
        return real(*args, **kwargs)

    monkeypatch.setattr(model, method, counted)
    return seen


@pytest.mark.parametrize("threads", [0, 1, 2])
def test_evaluation_runs_with_the_blas_threads_asked_for(threads, blas_at_two_threads, monkeypatch):
    """--threads N: N threads for every chunk; 0: one thread for the first chunks, until
    elman.blas first tries all. The library's own count comes back after."""
    tok = CharTokenizer.fit(TEXT)
    model = make_model(len(tok))
    seen = counting(monkeypatch, model, "nll", blas_at_two_threads)
    evaluate(model, tok, TEXT * 2, batch=2, bptt=4, threads=threads)
    first = blas.WARMUP + blas.SAMPLES  # units with one thread before the first trial
    assert len(seen) > first
    assert seen == [{threads}] * len(seen) if threads else seen[:first] == [{1}] * first
    assert blas_at_two_threads() == {2}


@pytest.mark.parametrize("batch", [1, 3, 10])
def test_bits_per_character_cover_every_character_but_the_first_at_any_stream_count(batch):
    """Streams score every token after the text's first, so every character after it
    counts, however many streams; in one stream, the loss of one pass over the text."""
    text = TEXT + "안녕 😀\n"
    tok = CharTokenizer.fit(text)
    model = make_model(len(tok))
    result = evaluate(model, tok, text, batch=batch, bptt=5)
    assert (result.chars, result.bytes) == (len(text) - 1, len(text.encode()) - 1)
    bits = result.loss * result.tokens / math.log(2)
    assert result.bits_per_char == pytest.approx(bits / (len(text) - 1), rel=1e-12)
    assert result.bits_per_byte == pytest.approx(bits / (len(text.encode()) - 1), rel=1e-12)
    if batch == 1:
        direct = direct_loss(model, tok.encode(text)) * (len(text) - 1) / math.log(2)
        assert bits == pytest.approx(direct, rel=1e-9)


def test_bits_per_character_count_what_an_unknown_word_stands_for():
    tok = WordTokenizer.fit("the cat\n")
    result = evaluate(make_model(len(tok)), tok, "the elephant cat\n", batch=1)
    assert result.unknown == 1
    assert result.chars == len(" elephant cat\n")  # "the" is read, not predicted
