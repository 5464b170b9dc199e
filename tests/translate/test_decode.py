"""Decoding: greedy against a plain argmax loop, a wide beam against exhaustive search
(with and without length normalisation), batched against one sentence at a time, the
length limit, the attention rows, determinism, and --reverse-source applied when
translating text."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from elman.config import ModelConfig, TokenizerConfig, TrainConfig
from elman.data.padded import pad
from elman.nn.loss import log_softmax
from elman.translate import build, translate
from elman.translate.data import Pair, source_ids
from elman.translate.decode import beam_search, length_limits, translate_ids
from elman.translate.model import TranslateConfig, Translator

VS, VT, EOS = 6, 4, 1


def make(attention="general", seed=0) -> Translator:
    config = ModelConfig(vocab_size=VT, embed=4, hidden=6, cell="gru")
    model = Translator(config, TranslateConfig(source_vocab_size=VS, attention=attention), seed)
    model.flat_params *= 8  # sharper distributions than at initialisation
    return model


def sources(seed=1, n=5):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, VS, size=rng.integers(1, 6)) for _ in range(n)]


def log_prob(model, source, ids):
    """log p(ids | source), one step at a time."""
    conditioning, state = model.encode(source[None], np.array([len(source)]))
    total, token = 0.0, EOS
    for target in ids:
        logits, _, state = model.decoder.step(np.array([token]), conditioning, state)
        total += log_softmax(logits.astype(np.float64))[0, target]
        token = target
    return total


def test_greedy_is_the_argmax_loop():
    model = make()
    for source in sources():
        conditioning, state = model.encode(source[None], np.array([len(source)]))
        token, expected = EOS, []
        for _ in range(length_limits([len(source)], 2.0, 10)[0]):
            logits, _, state = model.decoder.step(np.array([token]), conditioning, state)
            token = int(logits[0].argmax())
            expected.append(token)
            if token == EOS:
                break
        found = beam_search(model, source[None], np.array([len(source)]), EOS, beam=1)[0]
        assert found.ids.tolist() == [t for t in expected if t != EOS]
        assert found.finished == (expected[-1] == EOS)
        assert found.log_prob == pytest.approx(log_prob(model, source, expected), rel=1e-5)


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_a_wide_beam_finds_the_best_translation(alpha):
    """With room for every hypothesis (V = 4, at most 3 tokens), beam search is exhaustive:
    it returns the sequence with the best log-probability / length^alpha among all that
    end with <eos> or reach the limit."""
    model = make()
    for source in sources(seed=2, n=4):
        candidates = []
        for n in (1, 2, 3):
            for ids in itertools.product(range(VT), repeat=n):
                ends = ids[-1] == EOS
                if EOS in ids[:-1] or (not ends and n < 3):
                    continue  # <eos> ends a translation; only the limit cuts one short
                candidates.append((log_prob(model, source, ids) / n**alpha, ids))
        score, best = max(candidates)
        found = beam_search(
            model, source[None], np.array([len(source)]), EOS, beam=64,
            length_penalty=alpha, max_ratio=0.0, max_extra=3,
        )[0]  # fmt: skip
        assert found.ids.tolist() == [t for t in best if t != EOS]
        assert found.score == pytest.approx(score, rel=1e-5)


def test_batched_decoding_gives_what_one_at_a_time_does():
    model = make("additive")
    data = sources(seed=3, n=9)
    alone = [translate_ids(model, [s], EOS, beam=3, batch=1)[0] for s in data]
    together = translate_ids(model, data, EOS, beam=3, batch=4)
    for a, b in zip(alone, together, strict=True):
        assert a.ids.tolist() == b.ids.tolist() and a.finished == b.finished
        assert a.score == pytest.approx(b.score, rel=1e-5)
        assert_attention_close(a.attention, b.attention)
    again = translate_ids(model, data, EOS, beam=3, batch=4)
    assert [t.ids.tolist() for t in again] == [t.ids.tolist() for t in together]


def assert_attention_close(a, b):
    assert a.shape == b.shape and np.allclose(a, b, atol=1e-5)


def test_attention_rows_and_the_length_limit():
    """One row of weights over the source's real tokens per token written (<eos>
    included), each summing to 1; no translation is longer than its limit."""
    model = make("general")
    model.params["output.b"][EOS] -= 100  # never <eos>: every translation hits the limit
    data = sources(seed=4, n=6)
    source, lengths = pad(data)
    found = beam_search(model, source, lengths, EOS, beam=2, max_ratio=1.5, max_extra=1)
    for translation, n in zip(found, lengths, strict=True):
        limit = int(1.5 * n) + 1
        assert not translation.finished and len(translation.ids) == limit
        assert translation.attention.shape == (limit, n)
        assert np.allclose(translation.attention.sum(axis=1), 1)


def test_no_attention_gives_no_weights():
    model = make("none")
    found = translate_ids(model, sources(n=2), EOS, beam=2)
    assert all(t.attention is None for t in found)


def test_translate_reads_the_source_as_the_model_was_trained():
    """--reverse-source is a setting of the model: translate() reverses the text's tokens
    as training did, and gives what decoding the reversed ids gives."""
    pairs = [Pair("1+2", "3", "1"), Pair("12+5", "17", "2")]
    ckpt = build(
        pairs, ModelConfig(embed=4, hidden=8), TranslateConfig(reverse_source=True),
        TrainConfig(), TokenizerConfig(level="char"),
    )  # fmt: skip
    ids = source_ids("12+5", ckpt.source, reverse=True)
    assert ckpt.source.decode(ids.tolist()) == "5+21"
    expected = translate_ids(ckpt.model, [ids], ckpt.target.eos_id, beam=2)[0]
    assert translate(ckpt, ["12+5"], beam=2) == [ckpt.target.decode(expected.ids.tolist())]
