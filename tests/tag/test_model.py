"""The tagger: its masked, padded many-to-many loss (character features included) against
central finite differences in float64 and against PyTorch (packed sequences) on
identical weights; padding changing neither the loss nor any gradient; word dropout,
out-of-vocabulary accuracy, training and checkpoints."""

import numpy as np
import pytest

from elman import classify as clf
from elman import tag as tg
from elman.blocks.encoder import EncoderConfig
from elman.config import TrainConfig
from elman.data.conllu import Sentence
from elman.errors import ElmanError
from elman.tag.evaluate import evaluate
from tests.numeric import assert_close, numerical_gradient
from tests.torch_reference import grads_from, load_into

SENTENCES = [
    Sentence(["the", "dog", "barks", "loudly"], ["DET", "NOUN", "VERB", "ADV"], 1),
    Sentence(["a", "cat"], ["DET", "NOUN"], 6),
    Sentence(["Dogs", "bark", "."], ["NOUN", "VERB", "PUNCT"], 9),
]


def make(cell="lstm", chars=True, layers=1, bidirectional=True, seed=0, **settings):
    tagger_config = tg.TaggerConfig(chars=chars, char_embed=2, char_hidden=3, word_dropout=0)
    words, char_vocab, tags = tg.build_vocabularies(SENTENCES, tagger_config.lowercase)
    config = EncoderConfig(
        vocab_size=len(words),
        embed=3,
        hidden=4,
        cell=cell,
        layers=layers,
        bidirectional=bidirectional,
        **settings,
    )
    model = tg.Tagger(config, tagger_config, len(char_vocab), len(tags), seed, np.float64)
    rng = np.random.default_rng(seed + 100)
    for name, p in model.params.items():  # random biases: gradients away from zero
        if name.endswith((".b", ".b_x", ".b_h")):
            p += rng.normal(0, 0.3, p.shape)
    data = tg.encode(SENTENCES, words, char_vocab, tags, tagger_config.lowercase)
    return model, data, (words, char_vocab, tags)


def one_batch(data, extra=0, fill=3):
    """All sentences in one batch, with ``extra`` more padded steps holding ``fill``."""
    (b,) = tg.make_batches(data, len(data.words))
    if not extra:
        return b
    B = len(b.lengths)
    grow = lambda a, v: np.concatenate([a, np.full((B, extra), v)], axis=1)  # noqa: E731
    ids, tags, forms = grow(b.ids, fill), grow(b.tags, 1), grow(b.forms, 0)
    mask = b.mask
    ids[:, : b.ids.shape[1]][~mask] = fill
    return tg.TaggedBatch(ids, b.lengths, tags, forms, b.chars, b.char_lengths, b.index)


def loss_and_grads(model, b):
    model.zero_grad()
    loss = model.forward(b)
    model.backward()
    return loss, {name: g.copy() for name, g in model.grads.items()}


CASES = [("lstm", True, 1, True), ("gru", False, 2, True), ("rnn", False, 1, False)]


@pytest.mark.parametrize(("cell", "chars", "layers", "bidirectional"), CASES)
def test_gradients_match_finite_differences(cell, chars, layers, bidirectional, gemm):
    """Every parameter (character layer included) of the whole padded, masked loss, with
    numpy's products and MKL's."""
    model, data, _ = make(cell, chars, layers, bidirectional)
    model.use_gemm(gemm)
    b = one_batch(data)
    assert not b.mask.all()  # there is padding
    _, grads = loss_and_grads(model, b)
    for name, param in model.params.items():
        expected = numerical_gradient(lambda: model.forward(b), param)
        assert_close(grads[name], expected, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize(("cell", "chars", "layers", "bidirectional"), CASES)
def test_padding_changes_neither_loss_nor_gradients(cell, chars, layers, bidirectional):
    """More padding holding other words gives the same loss and gradients; and the batch
    is the token-weighted mean of its sentences read one at a time."""
    model, data, _ = make(cell, chars, layers, bidirectional)
    loss, grads = loss_and_grads(model, one_batch(data))
    padded_loss, padded_grads = loss_and_grads(model, one_batch(data, extra=3))
    assert padded_loss == pytest.approx(loss, rel=1e-12)
    for name in grads:
        assert_close(padded_grads[name], grads[name], rtol=1e-10, atol=1e-14)
    total, summed = 0, {name: 0.0 for name in grads}
    for i in range(len(SENTENCES)):
        alone = tg.TaggedData(
            data.words[i : i + 1], data.tags[i : i + 1], data.forms[i : i + 1], data.chars
        )
        one_loss, one_grads = loss_and_grads(model, one_batch(alone))
        n = len(data.words[i])
        total += one_loss * n
        for name in grads:
            summed[name] = summed[name] + one_grads[name] * n
    n_words = sum(len(w) for w in data.words)
    assert loss == pytest.approx(total / n_words, rel=1e-12)
    for name in grads:
        assert_close(grads[name], summed[name] / n_words, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_matches_torch_packed_bidirectional(cell, gemm):
    """nn.Embedding -> bidirectional nn.LSTM/GRU over pack_padded_sequence -> nn.Linear
    at every word -> cross_entropy over the real words (padding masked out), on our
    weights in float64: the loss and every gradient, with numpy's products and MKL's."""
    torch = pytest.importorskip("torch")
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    model, data, (words, _, tags) = make(cell, chars=False)
    model.use_gemm(gemm)
    b = one_batch(data)
    loss, grads = loss_and_grads(model, b)

    D, H = 3, 4
    embed = torch.nn.Embedding(len(words), D, dtype=torch.float64)
    rnn = (torch.nn.LSTM if cell == "lstm" else torch.nn.GRU)(
        D, H, batch_first=True, bidirectional=True, dtype=torch.float64
    )
    linear = torch.nn.Linear(2 * H, len(tags), dtype=torch.float64)
    reference = torch.nn.ModuleDict({"embed": embed, "rnn": rnn, "output": linear})
    load_into(torch, reference, model.params)
    x = embed(torch.from_numpy(b.ids))
    lengths = torch.from_numpy(b.lengths)
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out, _ = rnn(packed)
    hs, _ = pad_packed_sequence(out, batch_first=True, total_length=b.ids.shape[1])
    mask = torch.from_numpy(b.mask)
    t_loss = torch.nn.functional.cross_entropy(linear(hs)[mask], torch.from_numpy(b.tags)[mask])
    t_loss.backward()

    assert loss == pytest.approx(t_loss.item(), rel=1e-10)
    expected = grads_from(reference, model.params)
    assert expected.keys() == grads.keys()
    for name, grad in expected.items():
        assert_close(grads[name], grad, rtol=1e-9, atol=1e-12)


def test_batches_read_each_distinct_word_once():
    _, data, (words, char_vocab, _) = make()
    b = one_batch(data)
    distinct = {w for s in SENTENCES for w in s.words}
    assert len(b.chars) == len(distinct)
    for row, i in enumerate(b.index):
        for t, word in enumerate(SENTENCES[i].words):
            u = b.forms[row, t]
            assert char_vocab.decode(b.chars[u, : b.char_lengths[u]]) == word


def test_long_words_keep_their_ends():
    ids = np.arange(30)
    assert tg.word_ends(ids).tolist() == list(range(10)) + list(range(20, 30))
    assert tg.word_ends(ids[:20]).tolist() == list(range(20))


def test_word_dropout_rate_falls_with_frequency():
    """A word seen n times becomes <unk> with probability alpha / (alpha + n)."""
    data = tg.TaggedData(
        [np.array([2] * 50 + [3] * 50)] * 200,
        [np.zeros(100, np.int64)] * 200,
        [np.zeros(100, np.int64)] * 200,
        [np.array([1])],
    )
    counts = np.array([0, 0, 1, 9])
    batches = tg.make_batches(data, 200, np.random.default_rng(0), 1.0, counts)
    ids = np.concatenate([b.ids.ravel() for b in batches])
    assert np.mean(ids == 0) == pytest.approx((0.5 + 0.1) / 2, abs=0.01)
    assert not np.any(tg.make_batches(data, 200)[0].ids == 0)  # evaluation: no dropout


def test_evaluate_counts_out_of_vocabulary_words():
    """Words missing from the vocabulary are the <unk> ones: "zebra" here."""
    model, _, (words, char_vocab, tags) = make()
    sentences = [Sentence(["the", "zebra"], ["DET", "NOUN"], 1)]
    data = tg.encode(sentences, words, char_vocab, tags, model.tagger_config.lowercase)
    result = evaluate(model, data, 4)
    predicted = tg.predict_ids(model, data, 4)[0]
    gold = data.tags[0]
    assert result.oov_words == 1
    assert result.oov_accuracy == float(predicted[1] == gold[1])
    assert result.scores.accuracy == np.mean(predicted == gold)
    d = result.as_dict(tags)
    assert d["oov_words"] == 1 and "accuracy" in d


def test_unknown_tag_is_refused():
    _, _, (words, char_vocab, tags) = make()
    with pytest.raises(ElmanError, match="f.conllu line 7: tag 'X' is not one the model"):
        tg.encode([Sentence(["a"], ["X"], 7)], words, char_vocab, tags, True, "f.conllu")


def test_words_with_spaces_and_lowercase():
    assert tg.vocabulary_form("10 000") == "10_000"
    assert tg.vocabulary_form("Dogs", lowercase=True) == "dogs"


def test_learns_and_round_trips_a_checkpoint(tmp_path):
    model, data, (words, char_vocab, tags) = make()
    model = tg.Tagger(model.config, model.tagger_config, len(char_vocab), len(tags), seed=2)
    config = TrainConfig(epochs=30, batch=2, lr=0.02)
    ckpt = tg.TaggerCheckpoint(model, words, char_vocab, tags, config)
    history = tg.train(ckpt, data, data, progress=False)
    assert history[-1]["valid_accuracy"] == 1.0
    tg.save(tmp_path / "t", tg.TaggerCheckpoint(model, words, char_vocab, tags, TrainConfig()))
    loaded = tg.load(tmp_path / "t")
    assert loaded.tags == tags and loaded.words == words and loaded.chars == char_vocab
    assert np.array_equal(loaded.model.flat_params, model.flat_params)
    assert [p.tolist() for p in tg.predict_ids(loaded.model, data, 3)] == [
        p.tolist() for p in tg.predict_ids(model, data, 3)
    ]
    with pytest.raises(ElmanError, match="holds a tagger checkpoint, not a classifier"):
        clf.load(tmp_path / "t")
