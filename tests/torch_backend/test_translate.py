"""The torch backend's translator against the NumPy engine's, on identical weights and data:
every parameter's gradient (float64, dropout on), the loop's first 20 losses and the
weights after them (float32), greedy and beam search translations, each backend
evaluating the other's checkpoint, and ``elman translate`` with ``--backend torch``."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the torch backend needs PyTorch")

from elman import translate as mt  # noqa: E402
from elman.cli import main  # noqa: E402
from elman.config import TrainConfig  # noqa: E402
from elman.data.padded import mask_of, pad  # noqa: E402
from elman.torch_backend import TorchTranslator, on_torch  # noqa: E402
from elman.training import METRICS_FILE, Trainer  # noqa: E402
from elman.translate import checkpoint  # noqa: E402
from elman.translate.decode import translate_ids  # noqa: E402
from elman.translate.evaluate import evaluate  # noqa: E402
from elman.translate.model import TranslateConfig, Translator, TranslatorModelConfig  # noqa: E402
from tests.torch_reference import grads_from  # noqa: E402

WORDS = "a b c d e f g h".split()

# Two layers each; every attention score and none, bridge and peeky, tying, both dropouts.
VARIANTS = {
    "lstm-bi-general": ("lstm", {"bidirectional": True}, {"attention": "general"}),
    "gru-dot-peeky-tied-locked": (
        "gru",
        {"tie": True, "embed": 10, "dropout_kind": "locked"},
        {"attention": "dot", "peeky": True},
    ),
    "rnn-bi-additive-peeky-no-bridge": (
        "rnn",
        {"bidirectional": True},
        {"attention": "additive", "attention_size": 5, "peeky": True, "bridge": False},
    ),
    "relu-no-attention": ("rnn-relu", {}, {"attention": "none"}),
    "lstm-peeky-only-tied": (
        "lstm",
        {"tie": True, "embed": 10},
        {"attention": "none", "peeky": True, "bridge": False},
    ),
}


def pairs(n: int, seed: int) -> list[mt.Pair]:
    """Word sequences of 1 to 6 words and their reversals."""
    rng = np.random.default_rng(seed)
    found = []
    for i in range(n):
        words = list(rng.choice(WORDS, rng.integers(1, 7)))
        found.append(mt.Pair(" ".join(words), " ".join(reversed(words)), f"pair {i}"))
    return found


def configs(variant: str, dropout: float = 0.2) -> tuple[TranslatorModelConfig, TranslateConfig]:
    cell, model, kind = VARIANTS[variant]
    shape = {"embed": 8, "hidden": 10, "layers": 2, "dropout": dropout, **model}
    return TranslatorModelConfig(cell=cell, **shape), TranslateConfig(**kind)


def random_batch(rng: np.random.Generator, B: int, source_vocab: int, target_vocab: int):
    """Right-padded sources and targets of unequal lengths, as training pads them."""
    sources = [rng.integers(1, source_vocab, n) for n in rng.integers(1, 8, B)]
    targets = [rng.integers(1, target_vocab, n) for n in rng.integers(1, 7, B)]
    source, source_lengths = pad(sources)
    target, target_lengths = pad(targets)
    mask = mask_of(target_lengths, target.shape[1])
    inputs = np.concatenate([np.ones((B, 1), np.int64), target[:, :-1]], axis=1)
    inputs[~mask] = 0
    return source, source_lengths, inputs, target, mask


def twins(variant: str, dtype, dropout: float = 0.2) -> tuple[Translator, TorchTranslator]:
    """The NumPy translator of ``variant`` and its torch model, from the same seed."""
    model, kind = configs(variant, dropout)
    model = TranslatorModelConfig(**{**model.__dict__, "vocab_size": 9})
    kind = TranslateConfig(**{**kind.__dict__, "source_vocab_size": 11})
    return (
        Translator(model, kind, seed=4, dtype=dtype),
        TorchTranslator(Translator(model, kind, seed=4, dtype=dtype)),
    )


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_gradient_equals_the_numpy_models(variant):
    """float64, dropout on (the same masks drawn by both), three batches of padded pairs:
    the loss and the gradient of every parameter under its elman name."""
    numpy_model, torch_model = twins(variant, np.float64)
    assert torch_model.flat_params.dtype == torch.float64
    numpy_model.training = torch_model.training = True
    rng = np.random.default_rng(0)
    for _ in range(3):
        batch = random_batch(rng, 5, 11, 9)
        numpy_model.zero_grad()
        torch_model.zero_grad()
        expected = numpy_model.forward(*batch)
        numpy_model.backward()
        assert torch_model.forward(*batch) == pytest.approx(expected, rel=1e-12)
        assert torch_model.loss_count == numpy_model.loss_count == batch[4].sum()
        torch_model.backward()
        grads = grads_from(torch_model.net, numpy_model.params)
        for name, grad in numpy_model.grads.items():
            assert np.abs(grad).max() > 0, name  # every parameter is reached
            np.testing.assert_allclose(grads[name], grad, rtol=1e-9, atol=1e-12, err_msg=name)
    numpy_model.training = torch_model.training = False
    batch = random_batch(rng, 4, 11, 9)
    total, count = torch_model.nll(*batch)
    expected_total, expected_count = numpy_model.nll(*batch)
    assert count == expected_count and total == pytest.approx(expected_total, rel=1e-12)


@pytest.mark.parametrize("variant", VARIANTS)
def test_greedy_and_beam_search_write_the_same_translations(variant):
    """float64, so that no near-tie of the two engines' scores can part them."""
    numpy_model, torch_model = twins(variant, np.float64, dropout=0.0)
    rng = np.random.default_rng(1)
    sources = [rng.integers(1, 11, n) for n in rng.integers(1, 9, 11)]
    for beam, alpha in ((1, 1.0), (4, 1.0), (3, 0.0)):
        settings = {"beam": beam, "length_penalty": alpha, "max_ratio": 1.5, "batch": 4}
        ours = translate_ids(numpy_model, sources, 1, **settings)
        theirs = translate_ids(torch_model, sources, 1, **settings)
        for a, b in zip(ours, theirs, strict=True):
            np.testing.assert_array_equal(b.ids, a.ids)
            assert b.finished == a.finished
            assert b.log_prob == pytest.approx(a.log_prob, rel=1e-10)
            if numpy_model.attends:
                np.testing.assert_allclose(b.attention, a.attention, rtol=0, atol=1e-12)
            else:
                assert a.attention is None and b.attention is None
    assert any(len(t.ids) for t in ours)


def trained(ckpt, data, out) -> list[float]:
    """Train ``ckpt`` with the one loop; its step losses, from metrics.jsonl."""
    out.mkdir()
    task = mt.TranslatorTask(ckpt, *data)
    Trainer(task, ckpt.train_config, out, progress=False).run()
    records = [json.loads(line) for line in (out / METRICS_FILE).read_text().splitlines()]
    return [r["loss"] for r in records if r["event"] == "step"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_first_20_losses_equal_the_numpy_engines(tmp_path, variant):
    """float32 through the training loop (shuffled batches of pairs, dropout, Adam), then
    each backend evaluates the other's checkpoint to the same figures."""
    model_config, translate_config = configs(variant)
    settings = TrainConfig(batch=6, max_steps=20, log_every=1, eval_batch=4, seed=3, lr=0.01)
    train, valid = pairs(57, 0), pairs(9, 1)
    losses, models = [], []
    for backend in ("numpy", "torch"):
        ckpt = mt.build(train, model_config, translate_config, settings)
        if backend == "torch":
            ckpt.model = TorchTranslator(ckpt.model)
        data = [mt.encode_pairs(ckpt, part) for part in (train, valid)]
        losses.append(trained(ckpt, data, tmp_path / backend))
        models.append(ckpt.model)
    assert len(losses[0]) == len(losses[1]) == 20
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-5)
    for name, value in models[1].params.items():
        np.testing.assert_allclose(value, models[0].params[name], atol=2e-5, err_msg=name)

    references = [p.target for p in valid]
    for saved in ("numpy", "torch"):
        loaded = checkpoint.load(tmp_path / saved)
        data = mt.encode_pairs(loaded, valid)
        ours = evaluate(loaded.model, data, references, loaded.target, 3, 4)
        theirs = evaluate(TorchTranslator(loaded.model), data, references, loaded.target, 3, 4)
        assert theirs.tokens == ours.tokens
        assert theirs.loss == pytest.approx(ours.loss, rel=1e-5)
        # In float64 the two engines' translations cannot part on a near-tie: every figure.
        loaded = checkpoint.load(tmp_path / saved, dtype=np.float64)
        ours = evaluate(loaded.model, data, references, loaded.target, 3, 4)
        theirs = evaluate(TorchTranslator(loaded.model), data, references, loaded.target, 3, 4)
        assert theirs.loss == pytest.approx(ours.loss, rel=1e-10)
        assert theirs.translations == ours.translations
        assert (theirs.exact, theirs.bleu) == (ours.exact, ours.bleu)


def test_tied_weights_are_one_parameter_in_the_flat_buffer():
    numpy_model, torch_model = twins("gru-dot-peeky-tied-locked", np.float32)
    assert torch_model.net.output.weight is torch_model.net.embed.weight
    parameters = list(torch_model.net.parameters())
    assert sum(p.numel() for p in parameters) == torch_model.flat_params.numel()
    base = torch_model.flat_params.untyped_storage().data_ptr()
    assert all(p.untyped_storage().data_ptr() == base for p in parameters)
    assert set(torch_model.params) == set(numpy_model.params)  # output.W is embed.W
    assert on_torch(numpy_model).parameter_count == numpy_model.flat_params.size


@pytest.fixture
def data_file(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("".join(f"{p.source}\t{p.target}\n" for p in pairs(60, 2)), encoding="utf-8")
    return path


def test_the_command_line_trains_evaluates_and_translates_on_torch(capsys, tmp_path, data_file):
    out = tmp_path / "run"
    tiny = ["--embed", "8", "--hidden", "12", "--batch", "6", "--max-steps", "12", "--seed", "1"]
    torch_flags = ["--backend", "torch", "--device", "cpu"]
    train = ["translate", "train", "--data", str(data_file), *tiny, "--out", str(out)]
    assert main([*train, *torch_flags]) == 0
    assert "on torch (cpu)" in capsys.readouterr().out
    figures = []
    for backend in ("numpy", "torch"):
        evaluate = ["translate", "eval", "--model", str(out), "--data", str(data_file)]
        assert main([*evaluate, "--split", "test", "--json", "--backend", backend]) == 0
        figures.append(json.loads(capsys.readouterr().out))
    assert figures[1]["perplexity"] == pytest.approx(figures[0]["perplexity"], rel=1e-5)
    assert figures[1]["tokens"] == figures[0]["tokens"] > 0
    lines = tmp_path / "lines.txt"
    lines.write_text("a b c\n\nh g\n", encoding="utf-8")
    assert main(["translate", "predict", "--model", str(out), str(lines), *torch_flags]) == 0
    assert len(capsys.readouterr().out.split("\n")) == 4  # a line for each line, blank too
    # The training state is the torch backend's: resumed with it, refused without it.
    assert main(["translate", "train", "--resume", str(out), "--max-steps", "14"]) == 2
    assert "--backend torch" in capsys.readouterr().err
    resume = ["translate", "train", "--resume", str(out), "--max-steps", "14", *torch_flags]
    assert main(resume) == 0
    records = [json.loads(line) for line in (out / METRICS_FILE).read_text().splitlines()]
    assert [r["step"] for r in records if r["event"] == "epoch"][-1] == 14
