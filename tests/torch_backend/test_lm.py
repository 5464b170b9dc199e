"""The torch backend's language model against the NumPy engine's, on identical initial
weights and data: the loop's first 20 losses, the weights after them, and each backend
evaluating the other's checkpoint."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the torch backend needs PyTorch")

from elman.config import ModelConfig  # noqa: E402
from elman.data.tokenizers import CharTokenizer  # noqa: E402
from elman.lm import checkpoint  # noqa: E402
from elman.lm.checkpoint import Checkpoint  # noqa: E402
from elman.lm.config import LanguageModelTrainConfig  # noqa: E402
from elman.lm.evaluate import evaluate  # noqa: E402
from elman.lm.generate import generate, score  # noqa: E402
from elman.lm.model import LanguageModel, LanguageModelConfig  # noqa: E402
from elman.lm.task import LanguageModelTask, training_ids  # noqa: E402
from elman.torch_backend import TorchLanguageModel  # noqa: E402
from elman.training import METRICS_FILE, Trainer  # noqa: E402

TEXT = "".join(
    f"line {i}: the quick brown fox jumps over the lazy dog {i % 7}\n" for i in range(40)
)
TRAIN, VALID = TEXT[:1600], TEXT[1600:]
CELLS = ("rnn", "rnn-relu", "lstm", "gru")
VARIANTS = {  # two layers each, with dropout where it is drawn
    "plain": {"dropout": 0.25},
    "locked": {"dropout": 0.25, "dropout_kind": "locked", "state": "reset"},
    "tied": {"tie": True, "embed": 24, "dropout": 0.1},
    "adaptive": {"softmax": "adaptive", "cutoffs": "8,20"},
}


def run(model, tokenizer, config, out):
    """Train ``model`` with the one loop; the losses of its steps, from metrics.jsonl."""
    train_ids, valid_ids = training_ids(tokenizer, TRAIN, VALID, config)
    task = LanguageModelTask(Checkpoint(model, tokenizer, config), train_ids, valid_ids)
    out.mkdir()
    Trainer(task, config, out, progress=False).run()
    records = [json.loads(line) for line in (out / METRICS_FILE).read_text().splitlines()]
    return [r["loss"] for r in records if r["event"] == "step"]


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("cell", CELLS)
def test_the_first_20_losses_equal_the_numpy_engines(tmp_path, cell, variant):
    tokenizer = CharTokenizer.fit(TEXT)
    shape = {"embed": 16, "hidden": 24, "layers": 2, **VARIANTS[variant]}
    model_config = LanguageModelConfig(vocab_size=len(tokenizer), cell=cell, **shape)
    config = LanguageModelTrainConfig(
        batch=4, bptt=12, max_steps=20, log_every=1, optimizer="adam", seed=3
    )
    numpy_model = LanguageModel(model_config, seed=3)
    torch_model = TorchLanguageModel(LanguageModel(model_config, seed=3))
    numpy_losses = run(numpy_model, tokenizer, config, tmp_path / "numpy")
    torch_losses = run(torch_model, tokenizer, config, tmp_path / "torch")
    assert len(numpy_losses) == len(torch_losses) == 20
    np.testing.assert_allclose(torch_losses, numpy_losses, rtol=1e-5)
    # The weights after 20 steps (the best, kept at the end) as well.
    for name, value in torch_model.params.items():
        np.testing.assert_allclose(value, numpy_model.params[name], atol=2e-5, err_msg=name)


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_restarting_streams_gives_the_numpy_engines_losses(tmp_path, cell):
    """--restart-every zeroes the marked streams' state in the torch model as in NumPy's."""
    tokenizer = CharTokenizer.fit(TEXT)
    model_config = ModelConfig(vocab_size=len(tokenizer), cell=cell, embed=16, hidden=24, layers=2)
    config = LanguageModelTrainConfig(
        batch=4, bptt=12, max_steps=20, log_every=1, restart_every=3, seed=3
    )
    numpy_losses = run(LanguageModel(model_config, seed=3), tokenizer, config, tmp_path / "numpy")
    torch_model = TorchLanguageModel(LanguageModel(model_config, seed=3))
    torch_losses = run(torch_model, tokenizer, config, tmp_path / "torch")
    no_restart = LanguageModelTrainConfig(batch=4, bptt=12, max_steps=20, log_every=1, seed=3)
    carried = run(LanguageModel(model_config, seed=3), tokenizer, no_restart, tmp_path / "carried")
    np.testing.assert_allclose(torch_losses, numpy_losses, rtol=1e-5)
    assert not np.allclose(carried, numpy_losses, rtol=1e-5)  # the restarts changed something


@pytest.mark.parametrize("cell", CELLS)
def test_each_backend_evaluates_the_others_checkpoint_alike(tmp_path, cell):
    """A checkpoint trained on one backend, loaded in the other: the same perplexity, the
    same scores, and the same text sampled greedily."""
    tokenizer = CharTokenizer.fit(TEXT)
    model_config = ModelConfig(vocab_size=len(tokenizer), embed=16, hidden=24, cell=cell, layers=2)
    config = LanguageModelTrainConfig(batch=4, bptt=12, max_steps=5, eval_batch=3)
    for trained_on in ("numpy", "torch"):
        model = LanguageModel(model_config, seed=1)
        if trained_on == "torch":
            model = TorchLanguageModel(model)
        out = tmp_path / trained_on
        run(model, tokenizer, config, out)
        loaded = checkpoint.load(out)
        numpy_model, torch_model = loaded.model, TorchLanguageModel(loaded.model)
        a = evaluate(numpy_model, tokenizer, VALID, config.eval_batch, config.bptt)
        b = evaluate(torch_model, tokenizer, VALID, config.eval_batch, config.bptt)
        assert a.tokens == b.tokens
        assert b.loss == pytest.approx(a.loss, rel=1e-5)
        lines = VALID.splitlines()[:3]
        ours, theirs = score(numpy_model, tokenizer, lines), score(torch_model, tokenizer, lines)
        for s, t in zip(ours, theirs, strict=True):
            assert t.log_prob == pytest.approx(s.log_prob, rel=1e-5)
        prompt = "line 3"
        greedy = {"length": 30, "temperature": 0.0}
        assert generate(torch_model, tokenizer, prompt, **greedy) == generate(
            numpy_model, tokenizer, prompt, **greedy
        )


def test_padding_and_state_reset_give_the_numpy_loss():
    """Lines of unequal length (state reset): padded rows, masks, groups smaller than B."""
    tokenizer = CharTokenizer.fit(TEXT)
    model_config = LanguageModelConfig(
        vocab_size=len(tokenizer), embed=8, hidden=8, cell="lstm", state="reset"
    )
    a = LanguageModel(model_config)
    b = TorchLanguageModel(LanguageModel(model_config))
    ids = tokenizer.encode("ab\nabcdef\nabc\n")
    assert b.nll(ids[None, :-1], ids[None, 1:])[:2] == pytest.approx(
        a.nll(ids[None, :-1], ids[None, 1:])[:2], rel=1e-6
    )
    mask = np.array([[True] * 5 + [False] * (len(ids) - 6)])
    assert b.nll(ids[None, :-1], ids[None, 1:], mask)[0] == pytest.approx(
        a.nll(ids[None, :-1], ids[None, 1:], mask)[0], rel=1e-6
    )


def test_parameters_are_views_into_one_flat_tensor_and_tying_shares_one():
    model_config = LanguageModelConfig(
        vocab_size=30, embed=8, hidden=8, cell="lstm", tie=True, layers=2
    )
    model = TorchLanguageModel(LanguageModel(model_config))
    assert model.net.output.weight is model.net.embed.weight
    parameters = list(model.net.parameters())
    assert sum(p.numel() for p in parameters) == model.flat_params.numel()
    base = model.flat_params.untyped_storage().data_ptr()
    assert all(p.untyped_storage().data_ptr() == base for p in parameters)
    # Gradients land in flat_grads; PyTorch's bias_hh, which elman folds into its one
    # bias, keeps a zero gradient, so it stays at zero.
    model.training = True
    ids = np.arange(12).reshape(2, 6)
    model.forward(ids, ids)
    model.backward()
    assert float(model.net.rnn.bias_hh_l0.grad.abs().sum()) == 0
    assert float(model.net.rnn.bias_ih_l0.grad.abs().sum()) > 0
    assert float(model.flat_grads.abs().sum()) == pytest.approx(
        sum(float(p.grad.abs().sum()) for p in parameters), rel=1e-5
    )
    model.flat_params.zero_()
    assert all(float(p.detach().abs().sum()) == 0 for p in parameters)
