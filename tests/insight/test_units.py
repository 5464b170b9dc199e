"""Units over text: the features on texts worked by hand, the ranking against numpy's
correlation, the activations against the model's own pure forward, the cut of a long
text, and a trained model's quote unit."""

import json

import numpy as np
import pytest

import elman
from elman import insight
from elman.data.tokenizers import SubwordTokenizer
from elman.errors import ElmanError
from elman.insight.units import count_tokens, pieces, read_feature, switching_units
from elman.lm.conditioned import ConditionConfig, ConditionedLanguageModel
from elman.nn import log_softmax
from tests.data.test_tokenizers_subword import corpus
from tests.insight.conftest import HELD_OUT, TOKENIZER


def features_of(text, tokenizer=None):
    tokenizer = tokenizer or elman.CharTokenizer.fit(text)
    return insight.text_features([tokenizer.surface(t) for t in tokenizer.tokenize(text)])


def test_character_features_worked_by_hand():
    text = 'a "b(c)" 12\n한 x\n'
    f = features_of(text)
    #            a     "  b  (  c  )  "     1  2  \n 한    x  \n
    assert f["in_quotes"].tolist() == [0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    assert f["in_brackets"].tolist() == [0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    assert f["line_position"].tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0, 1, 2, 3]
    assert f["line_length"].tolist() == [12] * 12 + [4] * 4
    assert f["word_start"].tolist() == [1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 1, 0]
    assert f["digit"].tolist() == [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0]
    assert f["hangul"].tolist() == [0] * 12 + [1, 0, 0, 0]
    assert sorted(f) == sorted(insight.FEATURES)


def test_typographic_quotes_and_unbalanced_brackets():
    f = features_of("\u201cab\u201d c) (d")
    assert f["in_quotes"].tolist() == [1, 1, 1, 0, 0, 0, 0, 0, 0, 0]
    assert f["in_brackets"].tolist() == [0, 0, 0, 0, 0, 0, 0, 0, 1, 1]  # ")" alone: no depth


def test_word_features():
    tok = elman.WordTokenizer.fit('he said "go now" 42\nok\n')
    f = features_of('he said "go now" 42\nok\n', tok)
    # he said "go now" 42 <eos> ok <eos>
    assert f["in_quotes"].tolist() == [0, 0, 1, 0, 0, 0, 0, 0]
    assert f["word_start"].tolist() == [1, 1, 1, 1, 1, 0, 1, 0]
    assert f["line_position"].tolist() == [0, 1, 2, 3, 4, 5, 0, 1]
    assert f["line_length"].tolist() == [6] * 6 + [2, 2]
    assert f["digit"].tolist() == [0, 0, 0, 0, 1, 0, 0, 0]


def test_subword_features():
    """A piece starting with sentencepiece's ▁ (a space) starts a word; bytes of one
    character are no word starts after the first."""
    tok = SubwordTokenizer.fit(corpus(100), vocab_size=320)
    text = "영화 정말 😀\n"
    tokens = tok.tokenize(text)
    f = features_of(text, tok)
    starts = [i for i, t in enumerate(tokens) if f["word_start"][i]]
    assert [tokens[i] for i in starts] == [tokens[0], tok.tokenize(" 정말")[0], "<0xF0>"]
    assert f["hangul"].tolist() == [any("\uac00" <= c <= "\ud7a3" for c in t) for t in tokens]
    assert f["line_length"].tolist() == [len(tokens)] * len(tokens)


def test_correlations_match_numpy_and_ranking_is_best_first():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(50, 6))
    feature = rng.integers(0, 2, 50).astype(float)
    values[:, 4] = feature * 2 - 1 + rng.normal(0, 0.1, 50)  # follows the feature
    values[:, 2] = 0.5  # never changes
    r = insight.units.correlations(values, feature)
    for u in (0, 1, 3, 4, 5):
        assert r[u] == pytest.approx(np.corrcoef(values[:, u], feature)[0, 1], rel=1e-12)
    assert r[2] == 0
    acts = insight.Activations("rnn", {(0, "h"): values}, np.zeros((50, 1)), np.zeros((50, 1)))
    ranked = insight.rank_units(acts, {"f": feature, "constant": np.ones(50)})
    assert list(ranked) == ["f"]  # a constant feature says nothing: left out
    scores = [s.score for s in ranked["f"]]
    assert scores == sorted(scores, reverse=True) and len(scores) == 6
    assert ranked["f"][0].unit == 4 and ranked["f"][0].score > 0.99


def test_activations_are_the_models_own_values():
    """Each layer's trace over the text, from the state after a line start, gives the
    same h as the model's pure forward, and the guesses are the top of its softmax."""
    config = elman.ModelConfig(vocab_size=len(TOKENIZER), embed=8, hidden=6, cell="lstm", layers=2)
    model = elman.LanguageModel(config, seed=3)
    ids = TOKENIZER.encode(HELD_OUT[:80])
    acts = insight.activations(model, ids, TOKENIZER)
    assert acts.blocks == [(layer, s) for layer in (0, 1) for s in "hcifgo"]
    start = TOKENIZER.eos_id
    logits, _ = model.logits(np.array([[start, *ids]]))
    logits = logits[0, 1:]  # after each token of the text
    h, _ = model._read(np.array([[start, *ids]]), None)
    np.testing.assert_allclose(acts.values[(1, "h")], h[0, 1:], rtol=1e-5, atol=1e-6)
    probs = np.exp(log_softmax(logits.astype(np.float64)))
    top = np.argsort(-probs, axis=1, kind="stable")[:, :5]
    assert (acts.guesses == top).all()
    np.testing.assert_allclose(acts.probabilities, np.take_along_axis(probs, top, 1), rtol=1e-5)
    c = acts.values[(0, "c")]
    o = acts.values[(0, "o")]
    np.testing.assert_allclose(acts.values[(0, "h")], o * np.tanh(c), rtol=1e-5, atol=1e-6)
    saturation = insight.gate_saturation(acts)
    assert [(s["layer"], s["gate"]) for s in saturation] == [
        (layer, g) for layer in (0, 1) for g in "ifo"
    ]
    i = acts.values[(0, "i")]
    assert saturation[0]["left"] == pytest.approx((i < 0.1).mean(axis=0).tolist())
    assert saturation[0]["right"] == pytest.approx((i > 0.9).mean(axis=0).tolist())


@pytest.mark.parametrize("peeky", [False, True])
def test_a_conditioned_models_activations_start_from_its_condition(peeky):
    """A label-conditioned model read from its label's state (and, peeky, with the
    label beside every token): the guesses are the top of its own softmax given that
    label, and another label gives other values."""
    config = elman.ModelConfig(vocab_size=len(TOKENIZER), embed=8, hidden=6, cell="gru")
    condition = ConditionConfig(condition="label", condition_size=4, peeky=peeky)
    model = ConditionedLanguageModel(config, condition, labels=2, seed=3)
    ids = TOKENIZER.encode(HELD_OUT[:60])
    acts = insight.activations(model, ids, TOKENIZER, condition=np.array([1]))
    context = np.array([[TOKENIZER.eos_id, *ids]])
    logits, _ = model.logits(context, model.prepare(1, np.array([1])))
    probs = np.exp(log_softmax(logits[0, 1:].astype(np.float64)))
    top = np.argsort(-probs, axis=1, kind="stable")[:, :5]
    assert (acts.guesses == top).all()
    np.testing.assert_allclose(acts.probabilities, np.take_along_axis(probs, top, 1), rtol=1e-5)
    other = insight.activations(model, ids, TOKENIZER, condition=np.array([0]))
    assert not np.allclose(other.values[(0, "h")], acts.values[(0, "h")])


def test_units_that_switch_on_over_a_stretch():
    """Unit 2 of layer 0's h is high on tokens 3-5 alone: it comes first, with (mean
    inside - mean outside) / standard deviation; a unit that never changes scores 0."""
    rng = np.random.default_rng(0)
    h = rng.normal(0, 0.1, (10, 4)).astype(np.float32)
    h[3:6, 2] += 1.0
    h[:, 3] = 0.5
    acts = insight.Activations("rnn", {(0, "h"): h}, np.zeros((10, 5), np.int64),
                               np.zeros((10, 5), np.float32), [(0, "h")])  # fmt: skip
    found = switching_units(acts, 3, 6, count=4)
    v = h[:, 2].astype(np.float64)
    expected = (v[3:6].mean() - np.r_[v[:3], v[6:]].mean()) / v.std()
    assert found[0]["unit"] == 2 and found[0]["score"] == pytest.approx(expected)
    assert found[0]["inside"] == pytest.approx(v[3:6].mean())
    assert {f["unit"]: f["score"] for f in found}[3] == 0.0
    with pytest.raises(ElmanError, match="whole text"):
        switching_units(acts, 0, 10)
    with pytest.raises(ElmanError, match="within the text's 10 tokens"):
        switching_units(acts, 4, 11)


def test_a_long_text_is_cut_with_a_note_not_a_crash():
    text = "abc\n" * 3000
    tok = elman.CharTokenizer.fit(text)
    kept = insight.read_tokens(tok, text, max_tokens=1000)
    assert len(kept) == 1000 and kept.total == 12000
    assert "12,000 tokens" in kept.note and "first 1,000" in kept.note
    assert insight.read_tokens(tok, text, max_tokens=20000).note == ""
    # A large model holds fewer tokens, so that the page stays quick to open.
    capped = insight.read_tokens(tok, text, max_tokens=20000, units=4000)
    assert len(capped) == insight.units.MAX_VALUES // 4000
    assert "capped" in capped.note
    with pytest.raises(ElmanError, match="--max-tokens"):
        insight.read_tokens(tok, text, max_tokens=0)
    with pytest.raises(ElmanError, match="too few"):
        insight.read_tokens(tok, "a", max_tokens=10)


@pytest.mark.parametrize("level", ["char", "word"])
def test_pieces_tokenize_as_the_whole_text(level, monkeypatch):
    monkeypatch.setattr(insight.units, "PIECE", 7)
    text = "the cat sat\non the mat\n\nand one more line without an end"
    tok = elman.CharTokenizer.fit(text) if level == "char" else elman.WordTokenizer.fit(text)
    assert "".join(pieces(text)) == text and len(pieces(text)) > 2
    assert count_tokens(tok, text) == len(tok.tokenize(text))
    assert insight.read_tokens(tok, text, 10_000).tokens == tok.tokenize(text)


def test_user_features_are_checked(tmp_path):
    good = tmp_path / "good.txt"
    good.write_text("1 0 0.5\n2\n", encoding="utf-8")
    assert read_feature(good, 4, 3).tolist() == [1, 0, 0.5]
    for content, message in [
        ("1 x 2 3", "numbers only"),
        ("1 2 3", "3 numbers"),
        ("1 2 nan 3", "finite"),
    ]:
        bad = tmp_path / "bad.txt"
        bad.write_text(content, encoding="utf-8")
        with pytest.raises(ElmanError, match=message):
            read_feature(bad, 4, 4)
    assert insight.units.parse_feature_flag("indent=a=b.txt") == ("indent", "a=b.txt")
    with pytest.raises(ElmanError, match="NAME=FILE"):
        insight.units.parse_feature_flag("indent")


def test_trained_model_has_a_quote_unit(trained_models, tmp_path):
    """The tiny LSTM trained on quoted text (conftest) has, on held-out text, a unit whose
    value follows in_quotes with |Pearson r| >= 0.8, and that unit alone, thresholded
    half-way between its mean inside and its mean outside quotes, tells inside from
    outside for at least 85% of the tokens (measured: |r| = 0.85, 90.5%). The untrained
    model has no such unit."""
    model = trained_models["lstm"]
    summary = insight.units_report(model, TOKENIZER, HELD_OUT, tmp_path / "report")
    best = summary["features"]["in_quotes"][0]
    assert best["score"] >= 0.8, best
    acts = insight.activations(model, TOKENIZER.encode(HELD_OUT), TOKENIZER)
    inside = insight.text_features(TOKENIZER.tokenize(HELD_OUT))["in_quotes"] > 0
    v = acts.values[(best["layer"], best["state"])][:, best["unit"]]
    middle = (v[inside].mean() + v[~inside].mean()) / 2
    said_inside = (v > middle) if v[inside].mean() > middle else (v < middle)
    assert (said_inside == inside).mean() >= 0.85
    on_disk = json.loads((tmp_path / "report" / "units.json").read_text(encoding="utf-8"))
    assert on_disk["features"]["in_quotes"][0] == best
    assert set(best) >= {"layer", "state", "unit", "score"}
    untrained = elman.LanguageModel(model.config, seed=0)
    fresh = insight.units_report(untrained, TOKENIZER, HELD_OUT)
    assert fresh["features"]["in_quotes"][0]["score"] < best["score"]
