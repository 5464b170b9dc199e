"""Sampling and line scoring against manual loops over ``model.step`` and log_softmax."""

import math
import os

import numpy as np
import pytest

from elman import blas
from elman.config import ModelConfig
from elman.data import CharTokenizer, WordTokenizer
from elman.data.tokenizers import SubwordTokenizer
from elman.errors import ElmanError
from elman.lm.generate import encode_prompt, generate, samples, score, stream
from elman.lm.model import LanguageModel
from elman.nn import log_softmax
from tests.data.test_tokenizers_subword import corpus

TEXT = "the quick brown fox jumps over the lazy dog\nthe dog sleeps\n"


def make_model(tokenizer, seed=0, scale=3.0, dtype=np.float64) -> LanguageModel:
    """Random weights at ``scale`` times the initial scale: peaked enough that greedy
    decoding is not a tie, spread enough that sampling is not degenerate."""
    model = LanguageModel(
        ModelConfig(vocab_size=len(tokenizer), embed=8, hidden=16), seed=seed, dtype=dtype
    )
    model.flat_params *= scale
    return model


def greedy_by_hand(model: LanguageModel, context: list[int], length: int) -> list[int]:
    """Feed ``context`` through model.step from h_0 = 0, then take the argmax ``length``
    times, feeding each choice back."""
    state = model.initial_state(1)
    for token in context:
        logits, state = model.step(np.array([token]), state)
    out = []
    for _ in range(length):
        token = int(np.argmax(logits[0]))
        out.append(token)
        logits, state = model.step(np.array([token]), state)
    return out


@pytest.fixture
def char():
    tok = CharTokenizer.fit(TEXT)
    return tok, make_model(tok)


@pytest.fixture
def word():
    tok = WordTokenizer.fit(TEXT)
    return tok, make_model(tok)


def test_same_seed_same_text_and_different_seeds_differ(char):
    tok, model = char
    a = generate(model, tok, "the ", 60, seed=1)
    assert a == generate(model, tok, "the ", 60, seed=1)
    others = {generate(model, tok, "the ", 60, seed=s) for s in range(2, 6)}
    assert a not in others and len(others) == 4
    assert all(len(t) == 64 and t.startswith("the ") for t in [a, *others])


def test_temperature_zero_is_argmax(char):
    """Greedy decoding equals a manual argmax loop with model.step from a line start,
    and ignores the seed."""
    tok, model = char
    prompt = "the lazy "
    expected = greedy_by_hand(model, [tok.eos_id, *tok.encode(prompt)], 40)
    text = generate(model, tok, prompt, 40, temperature=0, seed=5)
    assert text == prompt + tok.decode(expected)
    assert text == generate(model, tok, prompt, 40, temperature=0, seed=6)


def test_top_k_one_is_greedy(char):
    tok, model = char
    greedy = generate(model, tok, "fox", 40, temperature=0)
    for seed in range(3):
        assert generate(model, tok, "fox", 40, temperature=1.5, top_k=1, seed=seed) == greedy


@pytest.mark.parametrize("temperature", [1e-300, 1e-310, 5e-324])
def test_a_tiny_temperature_is_greedy(char, temperature):
    """Logits divided by a (subnormal) temperature overflow to infinity; sampling must
    still pick the argmax rather than fail on NaN probabilities."""
    tok, model = char
    greedy = generate(model, tok, "the", 30, temperature=0)
    assert generate(model, tok, "the", 30, temperature=temperature, seed=2) == greedy


@pytest.mark.parametrize("fixture", ["char", "word"])
def test_stream_pieces_concatenate_to_generate_minus_the_prompt(fixture, request):
    tok, model = request.getfixturevalue(fixture)
    prompt = "the dog" if fixture == "word" else "the d"
    pieces = list(stream(model, tok, prompt, 25, seed=4))
    assert len(pieces) == 25
    assert "".join(pieces) == generate(model, tok, prompt, 25, seed=4)[len(prompt) :]


def test_word_prompt_without_newline_gets_no_eos(word):
    """'the lazy' is an unfinished line: the model continues it from the state after
    'lazy', not after <eos>; with a trailing newline the <eos> is fed."""
    tok, model = word
    the, lazy = tok.id_of("the"), tok.id_of("lazy")
    assert encode_prompt(tok, "the lazy") == [the, lazy]
    assert encode_prompt(tok, "the lazy\n") == [the, lazy, tok.eos_id]
    open_line = greedy_by_hand(model, [tok.eos_id, the, lazy], 12)
    closed_line = greedy_by_hand(model, [tok.eos_id, the, lazy, tok.eos_id], 12)
    assert open_line != closed_line  # so the comparison below can tell them apart
    text = generate(model, tok, "the lazy", 12, temperature=0)
    assert text == "the lazy" + tok.decode([the, lazy, *open_line])[len("the lazy") :]
    assert text.startswith("the lazy ") or text.startswith("the lazy\n")


def test_a_lower_case_vocabulary_says_so_when_a_prompt_has_capitals():
    tok = WordTokenizer.fit("the company said it would\n")
    model = LanguageModel(ModelConfig(vocab_size=len(tok), embed=4, hidden=4), seed=0)
    with pytest.raises(ElmanError, match="vocabulary is lower case") as refused:
        stream(model, tok, "The Company said")
    assert refused.value.tokens == ["The", "Company"]
    assert "('The' is there as 'the'), so write the prompt in lower case" in str(refused.value)


def test_prompt_with_unknown_tokens_is_refused_when_stream_is_called(char):
    """The prompt is checked before the first piece is asked for, so the CLI, which
    prints the prompt and then the pieces, prints nothing when the prompt is bad."""
    tok, model = char
    with pytest.raises(ElmanError, match=r"vocabulary lacks \('X', '€'\)"):
        stream(model, tok, "the X€")
    with pytest.raises(ElmanError, match="--length"):
        stream(model, tok, "the", length=-1)
    for temperature in (-0.5, math.nan):
        with pytest.raises(ElmanError, match="--temperature must be zero or positive"):
            stream(model, tok, "the", temperature=temperature)
    with pytest.raises(ElmanError, match="--top-k"):
        stream(model, tok, "the", top_k=-1)


def test_generation_leaves_the_models_carried_state_alone(char):
    tok, model = char
    model.hidden_states(tok.encode("the dog")[None, :])  # the training path carries a state
    before = model.state[0].copy()
    generate(model, tok, "fox", 10)
    assert np.array_equal(model.state[0], before)


def manual_line_log_prob(model: LanguageModel, tok, line: str) -> float:
    """log p(line tokens, line end | line start) by model.step from h_0 = 0."""
    line = line.rstrip("\n")
    body = [tok.id_of(w) for w in line.split()] if tok.level == "word" else tok.encode(line)
    ids = [*body, tok.eos_id]  # "\n" at char level, <eos> at word level
    state = model.initial_state(1)
    logits, state = model.step(np.array([tok.eos_id]), state)
    total = 0.0
    for token in ids:
        total += float(log_softmax(logits[0].astype(np.float64))[token])
        logits, state = model.step(np.array([token]), state)
    return total


@pytest.mark.parametrize("fixture", ["char", "word"])
def test_score_equals_a_manual_sum_of_log_softmax(fixture, request):
    """Each line from h_0 = 0 after a line start: the sum of log_softmax over its tokens
    and the line end; the model's carried state and the previous lines do not matter."""
    tok, model = request.getfixturevalue(fixture)
    lines = ["the lazy dog", "a fox sleeps\n", ""]
    model.hidden_states(tok.encode("the dog")[None, :])  # a carried state score must ignore
    scores = list(score(model, tok, lines))
    assert [s.text for s in scores] == ["the lazy dog", "a fox sleeps", ""]
    for s, line in zip(scores, lines, strict=True):
        expected = manual_line_log_prob(model, tok, line)
        assert s.log_prob == pytest.approx(expected, rel=1e-12)
        n = len(tok.encode(line.rstrip("\n") + "\n"))
        assert s.tokens == n
        assert s.perplexity == pytest.approx(math.exp(-expected / n), rel=1e-12)
    assert [s.log_prob for s in score(model, tok, lines[1:])] == pytest.approx(
        [s.log_prob for s in scores[1:]], rel=1e-12
    )


def test_score_counts_unknown_tokens(char):
    tok, model = char
    (s,) = score(model, tok, ["the 42 dogs"])  # TEXT has every letter but no digits
    assert s.unknown == 2
    assert s.tokens == 12


def test_score_without_newline_in_the_vocabulary_scores_only_the_tokens():
    """A char vocabulary without '\\n' has nothing to close a line with: the line's
    characters are scored after <unk> as the line start."""
    tok = CharTokenizer.fit("abcab")
    model = make_model(tok)
    (s,) = score(model, tok, ["abc"])
    assert s.tokens == 3
    state = model.initial_state(1)
    total = 0.0
    for prev, token in zip([tok.unk_id, *tok.encode("ab")], tok.encode("abc"), strict=True):
        logits, state = model.step(np.array([prev]), state)
        total += float(log_softmax(logits[0])[token])
    assert s.log_prob == pytest.approx(total, rel=1e-12)


def test_character_sampling_never_writes_the_unknown_symbol():
    """Even when a barely trained model favours <unk>, char-level samples skip it."""
    tok = CharTokenizer.fit("abc\n")
    model = LanguageModel(ModelConfig(vocab_size=len(tok), embed=4, hidden=8), seed=0)
    model.params["output.b"][tok.unk_id] = 50.0  # <unk> would win every draw
    text = generate(model, tok, "", length=200, seed=1)
    assert "\ufffd" not in text and len(text) == 200
    assert "\ufffd" not in generate(model, tok, "", length=50, temperature=0)


def test_sampling_chooses_its_blas_threads_and_gives_the_count_back(
    blas_at_two_threads, monkeypatch
):
    """Each step runs under elman.blas (one thread for the first steps); the library's own
    count comes back when the sample ends."""
    tok = CharTokenizer.fit(TEXT)
    model = make_model(tok)
    seen: list[set[int]] = []
    step = model.step

    def counted(*args):
        seen.append(blas_at_two_threads())
        return step(*args)

    monkeypatch.setattr(model, "step", counted)
    generate(model, tok, "the", 20)
    first = blas.WARMUP + blas.SAMPLES
    assert len(seen) > first and seen[:first] == [{1}] * first
    assert blas_at_two_threads() == {2}


def scripted(monkeypatch, ids):
    """Sampling that returns ``ids`` in turn, whatever the logits."""
    queue = list(ids)
    monkeypatch.setattr("elman.lm.generate.sample_next", lambda *args: queue.pop(0))


def test_subword_pieces_of_a_character_wait_until_it_is_whole(monkeypatch):
    """A character written as byte pieces shows when its last byte is sampled, whole, and
    the pieces still add up to the text of every sampled id; a sample cut inside a
    character ends with what decode makes of its bytes."""
    tok = SubwordTokenizer.fit(corpus(100), vocab_size=320)
    model = make_model(tok)
    text = "😀 영화 뷁!"
    ids = tok.encode(text).tolist()
    assert len(ids) > len(text)  # bytes
    scripted(monkeypatch, ids)
    pieces = list(stream(model, tok, "", len(ids)))
    assert "".join(pieces) == text
    assert pieces[0] == "😀" and all(piece and "\ufffd" not in piece for piece in pieces)
    scripted(monkeypatch, ids[:2])
    assert list(stream(model, tok, "", 2)) == [tok.decode(ids[:2])]


def test_subword_lines_score_their_characters():
    tok = SubwordTokenizer.fit(corpus(100), vocab_size=320)
    (s,) = score(make_model(tok), tok, ["영화 😀"])
    assert (s.chars, s.bytes, s.unknown) == (len("영화 😀\n"), len("영화 😀\n".encode()), 0)
    assert s.tokens == len(tok.encode("영화 😀\n"))
    assert s.bits_per_char == pytest.approx(-s.log_prob / math.log(2) / s.chars)


def lstm_sampler(tok, dtype):
    """An LSTM whose random weights give spread distributions and rare line ends, so that
    samples run long."""
    model = LanguageModel(
        ModelConfig(vocab_size=len(tok), embed=8, hidden=64, cell="lstm"), seed=3, dtype=dtype
    )
    model.flat_params *= 2.0
    model.params["output.b"][tok.eos_id] -= 3.0
    return model


def agreement(batched: list[str], sequential: list[str]) -> float:
    """The share of the sequential samples' characters that the batched ones repeat before
    their first difference."""
    same = sum(len(os.path.commonprefix([a, b])) for a, b in zip(batched, sequential, strict=True))
    return same / sum(len(b) for b in sequential)


@pytest.mark.parametrize(("dtype", "least"), [(np.float32, 0.99), (np.float64, 1.0)])
def test_samples_drawn_in_one_batch_are_the_sequential_samples(dtype, least):
    """32 samples of up to 200 tokens, seeds 5..36, in one batch against one at a time:
    the same text but where a draw fell within the rounding by which a batch's float32
    product differs from one row's (at least 99% of the characters); in float64 all."""
    tok = CharTokenizer.fit(TEXT)
    model = lstm_sampler(tok, dtype)
    batched = list(samples(model, tok, 32, "the", length=200, seed=5, top_k=10))
    sequential = [
        generate(model, tok, "the", 200, top_k=10, seed=5 + k, stop_at_line_end=True)
        for k in range(32)
    ]
    assert sum(len(s) for s in sequential) > 32 * 100  # long samples: 3,200+ draws
    assert len(set(sequential)) == 32
    assert agreement(batched, sequential) >= least


def test_samples_stop_at_a_line_end_or_the_length_and_come_in_order():
    tok = CharTokenizer.fit(TEXT)
    model = make_model(tok)
    texts = list(samples(model, tok, 6, "th", length=30, seed=0))
    assert texts == [
        generate(model, tok, "th", 30, seed=k, stop_at_line_end=True) for k in range(6)
    ]
    assert all(t.startswith("th") and "\n" not in t and len(t) <= 32 for t in texts)
    assert (
        list(samples(model, tok, 3, "th", length=30, temperature=0))
        == [generate(model, tok, "th", 30, temperature=0, stop_at_line_end=True)] * 3
    )


@pytest.mark.parametrize(
    ("settings", "message"),
    [({"count": 0}, "--count must be a positive integer, got 0"),
     ({"length": -1}, "--length must be zero or positive"),
     ({"top_p": 0}, "--top-p must be above 0"),
     ({"seed": -1}, "--seed must be zero or positive")],
)  # fmt: skip
def test_samples_refuse_bad_settings_when_called(settings, message):
    tok = CharTokenizer.fit(TEXT)
    with pytest.raises(ElmanError, match=message):
        samples(make_model(tok), tok, **{"count": 2, **settings})
