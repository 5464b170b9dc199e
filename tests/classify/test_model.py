"""The classifier: its masked, padded many-to-one loss against central finite differences
in float64 and against PyTorch (packed sequences) on identical weights; padding changing
neither the loss nor any gradient; class weights; training, checkpoints and
initialisation from a language model."""

import dataclasses

import numpy as np
import pytest

from elman import classify as clf
from elman.blocks.encoder import EncoderConfig
from elman.config import ModelConfig, TrainConfig
from elman.data.labeled import Example
from elman.data.padded import pad
from elman.data.tokenizers import CharTokenizer, WordTokenizer
from elman.errors import ElmanError
from elman.lm import checkpoint
from elman.lm.model import LanguageModel
from tests.numeric import assert_close, numerical_gradient
from tests.torch_reference import grads_from, load_into

V, K = 7, 3
SEQUENCES = [np.array([1, 2, 3, 4]), np.array([5, 6]), np.array([3])]
LABELS = np.array([2, 0, 1])


def make(cell="lstm", bidirectional=True, layers=1, pooling="final", seed=0, **settings):
    config = EncoderConfig(
        vocab_size=V,
        embed=3,
        hidden=4,
        cell=cell,
        layers=layers,
        bidirectional=bidirectional,
        **settings,
    )
    model = clf.Classifier(config, K, pooling, seed=seed, dtype=np.float64)
    rng = np.random.default_rng(seed + 100)
    for name, p in model.params.items():  # random biases: gradients away from zero
        if name.endswith((".b", ".b_x", ".b_h")):
            p += rng.normal(0, 0.3, p.shape)
    return model


def batch(sequences=SEQUENCES, labels=LABELS, extra=0, weights=None, fill=0):
    """The sequences right-padded, with ``extra`` more padded steps filled with ``fill``."""
    ids, lengths = pad(sequences)
    if extra:
        ids = np.concatenate([ids, np.full((len(ids), extra), fill)], axis=1)
    for row, n in enumerate(lengths):
        ids[row, n:] = fill
    return clf.LabeledBatch(ids, lengths, labels, np.arange(len(labels)), weights)


def loss_and_grads(model, b):
    model.zero_grad()
    loss = model.forward(b)
    model.backward()
    return loss, {name: g.copy() for name, g in model.grads.items()}


CASES = [
    ("rnn", False, 1, "final"),
    ("gru", True, 1, "final"),
    ("lstm", True, 2, "final"),
    ("lstm", False, 1, "mean"),
    ("gru", True, 1, "max"),
    ("rnn-relu", True, 1, "mean"),
]


@pytest.mark.parametrize(("cell", "bidirectional", "layers", "pooling"), CASES)
def test_gradients_match_finite_differences(cell, bidirectional, layers, pooling, gemm):
    """Every parameter of the whole padded, masked loss, in float64, with numpy's products
    and MKL's."""
    model = make(cell, bidirectional, layers, pooling)
    model.use_gemm(gemm)
    b = batch()
    _, grads = loss_and_grads(model, b)
    for name, param in model.params.items():
        expected = numerical_gradient(lambda: model.forward(b), param)
        assert_close(grads[name], expected, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize(("cell", "bidirectional", "layers", "pooling"), CASES)
def test_padding_changes_neither_loss_nor_gradients(cell, bidirectional, layers, pooling):
    """More padding, whatever it holds, gives the same loss and gradients; and the batch
    is the mean of its texts read one at a time."""
    model = make(cell, bidirectional, layers, pooling)
    loss, grads = loss_and_grads(model, batch())
    for extra, fill in ((3, 0), (2, 5)):
        padded_loss, padded_grads = loss_and_grads(model, batch(extra=extra, fill=fill))
        assert padded_loss == pytest.approx(loss, rel=1e-12)
        for name in grads:
            assert_close(padded_grads[name], grads[name], rtol=1e-10, atol=1e-14)
    alone = [loss_and_grads(model, batch([s], LABELS[i : i + 1])) for i, s in enumerate(SEQUENCES)]
    assert loss == pytest.approx(np.mean([a[0] for a in alone]), rel=1e-12)
    for name in grads:
        assert_close(grads[name], np.mean([a[1][name] for a in alone], axis=0), rtol=1e-10)


def test_class_weights_give_a_weighted_mean():
    """sum_i w_i loss_i / sum_i w_i, with gradients to match (finite differences)."""
    model = make("gru")
    weights = np.array([0.3, 2.0, 0.9])
    losses = [
        loss_and_grads(model, batch([s], LABELS[i : i + 1]))[0] for i, s in enumerate(SEQUENCES)
    ]
    b = batch(weights=weights)
    loss, grads = loss_and_grads(model, b)
    assert loss == pytest.approx(np.dot(weights, losses) / weights.sum(), rel=1e-12)
    for name in ("output.W", "rnn.0.forward.W_h", "embed.W"):
        expected = numerical_gradient(lambda: model.forward(b), model.params[name])
        assert_close(grads[name], expected, rtol=1e-5, atol=1e-8)


def test_balanced_class_weights():
    w = clf.class_weights(np.array([0, 0, 0, 1]), 3)
    assert w.tolist() == pytest.approx([4 / 9, 4 / 3, 0.0])


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("weighted", [False, True])
def test_matches_torch_packed_bidirectional(cell, weighted, gemm):
    """nn.Embedding -> bidirectional nn.LSTM/GRU over pack_padded_sequence -> the final
    states h_n of both directions -> nn.Linear -> cross_entropy (with weight=), on our
    weights in float64: the loss and every gradient, with numpy's products and MKL's."""
    torch = pytest.importorskip("torch")
    from torch.nn.utils.rnn import pack_padded_sequence

    model = make(cell, True, 1, "final")
    model.use_gemm(gemm)
    weights = np.array([0.5, 1.5, 1.0]) if weighted else None
    b = batch(weights=None if weights is None else weights[LABELS])
    loss, grads = loss_and_grads(model, b)

    D, H = 3, 4
    embed = torch.nn.Embedding(V, D, dtype=torch.float64)
    rnn = (torch.nn.LSTM if cell == "lstm" else torch.nn.GRU)(
        D, H, batch_first=True, bidirectional=True, dtype=torch.float64
    )
    linear = torch.nn.Linear(2 * H, K, dtype=torch.float64)
    reference = torch.nn.ModuleDict({"embed": embed, "rnn": rnn, "output": linear})
    load_into(torch, reference, model.params)
    x = embed(torch.from_numpy(b.ids))
    packed = pack_padded_sequence(
        x, torch.from_numpy(b.lengths), batch_first=True, enforce_sorted=False
    )
    _, state = rnn(packed)
    h_n = state[0] if cell == "lstm" else state  # (2, B, H)
    logits = linear(torch.cat([h_n[0], h_n[1]], dim=1))
    t_loss = torch.nn.functional.cross_entropy(
        logits,
        torch.from_numpy(LABELS),
        weight=None if weights is None else torch.from_numpy(weights),
    )
    t_loss.backward()

    assert loss == pytest.approx(t_loss.item(), rel=1e-10)
    expected = grads_from(reference, model.params)
    assert expected.keys() == grads.keys()
    for name, grad in expected.items():
        assert_close(grads[name], grad, rtol=1e-9, atol=1e-12)


def test_dropout_is_off_for_prediction():
    model = make("gru", dropout=0.5)
    model.training = True
    first = clf.predict_proba(model, SEQUENCES, 2)
    assert model.training  # restored
    assert_close(clf.predict_proba(model, SEQUENCES, 3), first, rtol=1e-12)
    assert_close(first.sum(axis=1), np.ones(3))


def test_learns_a_toy_problem_and_round_trips_a_checkpoint(tmp_path):
    """Texts containing "!" are spam: learnt in a few epochs; the saved checkpoint gives
    the same probabilities, and loading it as a language model is refused."""
    rng = np.random.default_rng(0)
    words = "abcdefgh"
    texts = ["".join(rng.choice(list(words), rng.integers(2, 9))) for _ in range(120)]
    examples = [
        Example("spam" if i % 2 else "ham", t + ("!" if i % 2 else ""), f"line {i}")
        for i, t in enumerate(texts)
    ]
    tok = CharTokenizer.fit("".join(e.text for e in examples))
    labels = ["ham", "spam"]
    data = clf.encode(examples, tok, labels, normalized=False, max_length=0)
    config = EncoderConfig(vocab_size=len(tok), embed=8, hidden=8, cell="gru", bidirectional=True)
    model = clf.Classifier(config, 2, "final", seed=1)
    config = TrainConfig(epochs=8, batch=16, lr=0.01)
    ckpt = clf.ClassifierCheckpoint(model, tok, labels, clf.ClassifierConfig(), config)
    history = clf.train(ckpt, data, data, progress=False)
    assert history[-1]["valid_accuracy"] == 1.0
    ckpt = clf.ClassifierCheckpoint(model, tok, labels, clf.ClassifierConfig(), TrainConfig())
    clf.save(tmp_path / "c", ckpt)
    loaded = clf.load(tmp_path / "c")
    assert loaded.labels == labels and loaded.tokenizer == tok
    assert np.array_equal(loaded.model.flat_params, model.flat_params)
    assert_close(
        clf.predict_proba(loaded.model, data.sequences, 7),
        clf.predict_proba(model, data.sequences, 7),
        rtol=1e-6,
    )
    with pytest.raises(ElmanError, match="holds a classifier checkpoint, not a language-model"):
        checkpoint.load(tmp_path / "c")


def test_unknown_label_is_refused():
    tok = CharTokenizer.fit("abc")
    with pytest.raises(ElmanError, match="f line 3 has label 'eggs', which the model does not"):
        clf.encode([Example("eggs", "abc", "f line 3")], tok, ["ham", "spam"], True, 0)


def test_normalized_token_ids():
    tok = WordTokenizer.fit("win £ 0000 ! call\n")
    assert tok.decode(clf.token_ids("WIN £1234!! now", tok, True, 3)) == "win £ 0000"
    assert tok.decode(clf.token_ids("WIN £1234!!", tok, False, 0)) == "<unk> <unk>\n"


def test_init_from_language_model_copies_embedding_and_recurrent_weights():
    lm = LanguageModel(ModelConfig(vocab_size=V, embed=3, hidden=4, cell="gru", layers=2), seed=3)
    model = clf.Classifier(
        EncoderConfig(vocab_size=V, embed=3, hidden=4, cell="gru", layers=2, bidirectional=True),
        K,
    )
    reverse_before = model.params["rnn.0.reverse.W_h"].copy()
    copied = clf.init_from_language_model(model, lm.config, lm.params)
    assert "embed.W" in copied and "rnn.1.forward.W_h" in copied
    assert "rnn.1.forward.W_x" not in copied  # reads both directions: (2H, 3H), not (H, 3H)
    assert np.array_equal(model.params["embed.W"], lm.params["embed.W"])
    assert np.array_equal(model.params["rnn.0.forward.W_x"], lm.params["rnn.0.W_x"])
    assert np.array_equal(model.params["rnn.1.forward.b_h"], lm.params["rnn.1.b_h"])
    assert np.array_equal(model.params["rnn.0.reverse.W_h"], reverse_before)
    one_way = clf.Classifier(dataclasses.replace(model.config, bidirectional=False), K)
    assert (
        len(clf.init_from_language_model(one_way, lm.config, lm.params)) == len(lm.params) - 2
    )  # not output
    bigger = clf.Classifier(dataclasses.replace(model.config, hidden=5, bidirectional=False), K)
    with pytest.raises(ElmanError, match="does not fit the language model"):
        clf.init_from_language_model(bigger, lm.config, lm.params)
