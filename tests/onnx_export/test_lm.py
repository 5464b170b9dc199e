"""ONNX export of a language model, run by onnxruntime against elman's NumPy model on the
same weights: 50 generation steps, a whole sequence at once, the checker, the JSON."""

import json

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="ONNX export needs the onnx package")
ort = pytest.importorskip("onnxruntime", reason="the ONNX tests run the model in onnxruntime")

import sentencepiece as spm  # noqa: E402

from elman.config import ModelConfig  # noqa: E402
from elman.data.tokenizers import CharTokenizer, SubwordTokenizer, WordTokenizer  # noqa: E402
from elman.lm import checkpoint  # noqa: E402
from elman.lm.config import LanguageModelConfig, LanguageModelTrainConfig  # noqa: E402
from elman.lm.evaluate import evaluate  # noqa: E402
from elman.lm.kind import train  # noqa: E402
from elman.lm.model import LanguageModel  # noqa: E402
from elman.nn import log_softmax  # noqa: E402
from elman.onnx_export import export  # noqa: E402
from tests.data.test_tokenizers_subword import corpus  # noqa: E402

TEXT = "".join(
    f"line {i}: the quick brown fox jumps over the lazy dog {i % 7}\n" for i in range(20)
)
CELLS = ("rnn", "rnn-relu", "lstm", "gru")


def exported(tmp_path, tokenizer, **settings):
    shape = {"embed": 12, "hidden": 16, "layers": 2, **settings}
    config = LanguageModelConfig(vocab_size=len(tokenizer), **shape)
    model = LanguageModel(config, seed=4)
    checkpoint.save(tmp_path / "ckpt", model, tokenizer)
    export(tmp_path / "ckpt", tmp_path / "model.onnx")
    session = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    return model, session


def state_arrays(model, state):
    """elman's per-layer state as the graph's (layers, batch, hidden) inputs."""
    if model.config.cell == "lstm":
        return {
            "h0": np.stack([h for h, _ in state]),
            "c0": np.stack([c for _, c in state]),
        }
    return {"h0": np.stack(state)}


@pytest.mark.parametrize(
    "settings",
    [{"cell": c} for c in CELLS]
    + [{"cell": "lstm", "tie": True, "embed": 16}, {"cell": "gru", "softmax": "adaptive"}],
    ids=[*CELLS, "lstm-tied", "gru-adaptive"],
)
def test_fifty_generation_steps_equal_elmans(tmp_path, settings):
    tokenizer = CharTokenizer.fit(TEXT)
    model, session = exported(tmp_path, tokenizer, **settings)
    assert onnx.checker.check_model(str(tmp_path / "model.onnx"), full_check=True) is None
    rng = np.random.default_rng(0)
    state = model.initial_state(2)
    feeds = state_arrays(model, state)
    tokens = np.array([tokenizer.eos_id, tokenizer.eos_id])
    for _ in range(50):
        logits, state = model.step(tokens, state)
        outputs = dict(
            zip(
                [o.name for o in session.get_outputs()],
                session.run(None, {"input_ids": tokens[:, None], **feeds}),
                strict=True,
            )
        )
        np.testing.assert_allclose(outputs["logits"][:, 0], logits, rtol=0, atol=1e-5)
        expected = state_arrays(model, state)
        feeds = {name: outputs[name.replace("0", "n")] for name in expected}
        for name, value in expected.items():
            np.testing.assert_allclose(feeds[name], value, rtol=0, atol=1e-5)
        tokens = rng.integers(0, len(tokenizer), 2)  # any ids: the model's own or not


def test_a_subword_checkpoint_evaluates_alike_in_numpy_torch_and_onnx(tmp_path):
    """A trained subword model: elman's bits per character (NumPy), the same through the
    torch backend, and the same summed from onnxruntime's logits with the sentencepiece
    model written beside the export, to 1e-5."""
    torch_backend = pytest.importorskip("elman.torch_backend", reason="needs torch")
    train_text, valid_text = corpus(200), corpus(30)
    tokenizer = SubwordTokenizer.fit(train_text, vocab_size=320)
    config = ModelConfig(vocab_size=len(tokenizer), embed=12, hidden=16, layers=2, cell="lstm")
    train_config = LanguageModelTrainConfig(batch=4, bptt=16, max_steps=30)
    model = LanguageModel(config, seed=0)
    train(model, tokenizer, train_text, None, train_config, tmp_path / "ckpt", progress=False)
    loaded = checkpoint.load(tmp_path / "ckpt")
    numpy_figure = evaluate(loaded.model, tokenizer, valid_text, batch=1, bptt=1000)
    torch_model = torch_backend.TorchLanguageModel(loaded.model)
    torch_figure = evaluate(torch_model, tokenizer, valid_text, batch=1, bptt=1000)

    export(tmp_path / "ckpt", tmp_path / "model.onnx")
    session = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    sp = spm.SentencePieceProcessor(model_file=str(tmp_path / "model.model"))
    ids = np.array(sp.encode(valid_text))
    zeros = state_arrays(loaded.model, loaded.model.initial_state(1))
    (logits,) = session.run(["logits"], {"input_ids": ids[None, :-1], **zeros})
    logp = log_softmax(logits[0].astype(np.float64))
    nats = -logp[np.arange(len(ids) - 1), ids[1:]].sum()
    onnx_figure = nats / np.log(2) / (len(valid_text) - len(sp.decode(ids[:1].tolist())))

    assert numpy_figure.chars == len(valid_text) - len(sp.decode(ids[:1].tolist()))
    assert torch_figure.bits_per_char == pytest.approx(numpy_figure.bits_per_char, rel=1e-5)
    assert onnx_figure == pytest.approx(numpy_figure.bits_per_char, rel=1e-5)


def test_a_whole_sequence_at_once_and_the_json_beside_it(tmp_path):
    tokenizer = WordTokenizer.fit(TEXT)
    model, session = exported(tmp_path, tokenizer, cell="lstm")
    ids = tokenizer.encode("the quick brown fox\nline 3 jumps\n")[None, :]
    logits, state = model.logits(ids)
    zeros = state_arrays(model, model.initial_state(1))
    got = session.run(["logits", "hn", "cn"], {"input_ids": ids, **zeros})
    np.testing.assert_allclose(got[0], logits, rtol=0, atol=1e-5)
    np.testing.assert_allclose(got[2], state_arrays(model, state)["c0"], rtol=0, atol=1e-5)
    description = json.loads((tmp_path / "model.json").read_text(encoding="utf-8"))
    assert description["kind"] == "language-model"
    assert description["tokenizer"]["tokens"] == tokenizer.tokens
    assert description["tokenizer"]["level"] == "word"
    assert description["line_start_id"] == tokenizer.eos_id == 1
    assert description["inputs"] == {
        "input_ids": ["batch", "time"],
        "h0": [2, "batch", 16],
        "c0": [2, "batch", 16],
    }
