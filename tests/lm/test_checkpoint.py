"""Checkpoints: a save/load round trip compared bit for bit, the files parsed as JSON and
safetensors by hand, and every damaged checkpoint refused with a message naming the fix."""

import dataclasses
import hashlib
import json
import os
import pickle
import struct

import numpy as np
import pytest
import safetensors.numpy

from elman import checkpoint as files
from elman.config import ModelConfig, TokenizerConfig
from elman.data import CharTokenizer, WordTokenizer
from elman.data.tokenizers import SubwordTokenizer
from elman.errors import ElmanError
from elman.lm import checkpoint
from elman.lm.config import LanguageModelConfig, LanguageModelTrainConfig
from elman.lm.generate import generate
from elman.lm.model import LanguageModel
from tests.data.test_tokenizers_subword import corpus

TEXT = "안녕하세요, 세계!\nthe quick brown fox\n"
FILES = {"config.json", "vocab.json", "model.safetensors"}


def make(tokenizer_cls=CharTokenizer, layers=2, seed=1):
    tok = tokenizer_cls.fit(TEXT)
    config = ModelConfig(vocab_size=len(tok), embed=6, hidden=8, layers=layers)
    return LanguageModel(config, seed=seed), tok


@pytest.fixture
def saved(tmp_path):
    """A 2-layer char model (weights perturbed away from the initialisation) saved to a
    checkpoint directory."""
    model, tok = make()
    model.flat_params += np.random.default_rng(0).normal(0, 0.5, model.flat_params.shape)
    train_config = LanguageModelTrainConfig(batch=3, bptt=9, lr=0.01, epochs=2, seed=7)
    checkpoint.save(tmp_path / "ckpt", model, tok, train_config, info={"epoch": 2})
    return tmp_path / "ckpt", model, tok, train_config


@pytest.mark.parametrize("tokenizer_cls", [CharTokenizer, WordTokenizer])
def test_round_trip(tmp_path, tokenizer_cls, monkeypatch):
    """Weights bit-equal, tokenizer, configs and info equal, the same generated text;
    and nothing is unpickled on the way."""

    def no_pickle(*args, **kwargs):
        raise AssertionError("a checkpoint must never be unpickled")

    monkeypatch.setattr(pickle, "load", no_pickle)
    monkeypatch.setattr(pickle, "loads", no_pickle)
    monkeypatch.setattr(pickle, "Unpickler", no_pickle)
    model, tok = make(tokenizer_cls)
    model.flat_params += np.random.default_rng(0).normal(0, 0.5, model.flat_params.shape)
    train_config = LanguageModelTrainConfig(batch=3, lr=0.01, epochs=2)
    checkpoint.save(tmp_path, model, tok, train_config, info={"epoch": 2, "valid_ppl": 3.5})
    ckpt = checkpoint.load(tmp_path)

    assert ckpt.model.params.keys() == model.params.keys()
    for name, p in model.params.items():
        assert ckpt.model.params[name].dtype == np.float32
        assert np.array_equal(ckpt.model.params[name], p), name
    assert ckpt.tokenizer == tok and type(ckpt.tokenizer) is type(tok)
    assert ckpt.tokenizer.eos_id == tok.eos_id
    assert ckpt.model.config == model.config
    assert ckpt.train_config == train_config
    assert ckpt.info == {"epoch": 2, "valid_ppl": 3.5}
    prompt = "the" if tok.level == "word" else "안녕"
    assert generate(ckpt.model, ckpt.tokenizer, prompt, 30, seed=3) == generate(
        model, tok, prompt, 30, seed=3
    )


def test_load_as_float64(saved):
    directory, model, _, _ = saved
    ckpt = checkpoint.load(directory, dtype=np.float64)
    assert ckpt.model.dtype == np.float64
    assert np.array_equal(ckpt.model.flat_params, model.flat_params.astype(np.float64))


def test_saving_again_overwrites_and_leaves_no_temporary_files(saved):
    directory, model, tok, _ = saved
    model.flat_params *= 2
    checkpoint.save(directory, model, tok)
    assert set(os.listdir(directory)) == FILES
    assert np.array_equal(checkpoint.load(directory).model.flat_params, model.flat_params)


def test_failed_save_raises_and_leaves_no_temporary_files(saved, monkeypatch):
    directory, model, tok, _ = saved

    def disk_full(tokenizer, path):
        with open(path, "w") as f:
            f.write("{")  # half a file, then the disk fills up
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files, "save_vocab", disk_full)
    with pytest.raises(ElmanError, match="No space left on device.*free disk space"):
        checkpoint.save(directory, model, tok)
    assert set(os.listdir(directory)) == FILES
    checkpoint.load(directory)  # the previous vocabulary is intact


def test_save_into_a_file_path_is_an_elman_error(tmp_path):
    model, tok = make()
    (tmp_path / "file").write_text("x")
    with pytest.raises(ElmanError, match="cannot write the checkpoint"):
        checkpoint.save(tmp_path / "file", model, tok)


def test_files_are_json_and_safetensors(saved):
    """Parsed by hand, per the safetensors spec: an 8-byte little-endian header length,
    a JSON header of dtype/shape/offsets, then the raw little-endian float32 data."""
    directory, model, tok, train_config = saved
    config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    assert config["format"] == "elman" and config["format_version"] == files.FORMAT_VERSION
    assert config["model"] == dataclasses.asdict(model.config)
    assert (config["model"]["vocab_size"], config["model"]["hidden"]) == (len(tok), 8)
    assert config["train"]["bptt"] == 9 and config["info"] == {"epoch": 2}
    vocab = json.loads((directory / "vocab.json").read_text(encoding="utf-8"))
    assert vocab == {"level": "char", "normalize": "NFC", "tokens": tok.tokens}
    assert config["vocabularies"] == {"tokens": "vocab.json"}

    raw = (directory / "model.safetensors").read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    data = raw[8 + n :]
    metadata = header.pop("__metadata__")
    assert list(metadata) == ["elman"]  # one entry: safetensors orders several at random
    elman_header = json.loads(metadata["elman"])
    assert elman_header["format_version"] == files.FORMAT_VERSION
    assert elman_header["sha256"] == files.tensor_digest(model.params)
    assert header.keys() == model.params.keys()
    for name, entry in header.items():
        assert entry["dtype"] == "F32"
        assert tuple(entry["shape"]) == model.params[name].shape
        begin, end = entry["data_offsets"]
        value = np.frombuffer(data[begin:end], "<f4").reshape(entry["shape"])
        assert np.array_equal(value, model.params[name])


def test_weights_file_is_as_readable_as_the_other_files(saved):
    """All three files get the same permissions (safetensors' own file writer creates
    its files owner-only, 0600, so a checkpoint could not be shared or served)."""
    directory = saved[0]
    modes = {name: os.stat(directory / name).st_mode & 0o777 for name in FILES}
    assert modes["model.safetensors"] == modes["config.json"] == modes["vocab.json"], modes


# Each damage below is made on a saved checkpoint; loading must raise ElmanError
# whose message names the problem (and is one sentence, for the CLI). A file changed
# after the save no longer has the hash config.json records for it, and is refused for
# that; so that the checks behind the hash are tried too, most damages below record the
# changed file's hash in config.json, as a checkpoint written wrong would have it.


def edit_config(directory, edit):
    path = directory / "config.json"
    config = json.loads(path.read_text())
    edit(config)
    path.write_text(json.dumps(config))


def record(directory, name):
    """config.json records the hash of ``name`` as it is now."""
    digest = hashlib.sha256((directory / name).read_bytes()).hexdigest()
    edit_config(directory, lambda c: c["files"].update({name: digest}))


def edit_tensors(directory, edit):
    path = directory / "model.safetensors"
    tensors = safetensors.numpy.load_file(path)
    edit(tensors)
    safetensors.numpy.save_file(tensors, path)
    record(directory, "model.safetensors")


def newer_version(d):
    edit_config(d, lambda c: c.update(format_version=files.FORMAT_VERSION + 1))


def unknown_model_key(d):
    edit_config(d, lambda c: c["model"].update(attention_heads=4))


def unknown_train_key(d):
    edit_config(d, lambda c: c["train"].update(warmup=100))


def bad_model_value(d):
    edit_config(d, lambda c: c["model"].update(hidden=0))


def missing_tensor(d):
    edit_tensors(d, lambda t: t.pop("rnn.1.W_h"))


def extra_tensor(d):
    edit_tensors(d, lambda t: t.update({"rnn.2.W_h": np.zeros((8, 8), np.float32)}))


def wrong_shape(d):
    edit_tensors(d, lambda t: t.update({"rnn.0.W_x": np.ascontiguousarray(t["rnn.0.W_x"].T)}))


def nan_weight(d):
    edit_tensors(d, lambda t: t["output.b"].__setitem__(3, np.nan))


def vocab_token_removed(d):
    path = d / "vocab.json"
    vocab = json.loads(path.read_text(encoding="utf-8"))
    vocab["tokens"].remove("세")
    path.write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    record(d, "vocab.json")


def vocab_edited_after_saving(d):
    path = d / "vocab.json"
    path.write_text(path.read_text(encoding="utf-8").replace("세", "새"), encoding="utf-8")


def vocab_level_changed(d):
    edit_config(d, lambda c: c["tokenizer"].update(level="word"))


def vocab_missing(d):
    (d / "vocab.json").unlink()


def weights_missing(d):
    (d / "model.safetensors").unlink()


def truncated_weights(d):
    path = d / "model.safetensors"
    path.write_bytes(path.read_bytes()[:-100])
    record(d, "model.safetensors")


def truncated_header(d):
    path = d / "model.safetensors"
    path.write_bytes(path.read_bytes()[:5])
    record(d, "model.safetensors")


def weights_truncated_after_saving(d):
    path = d / "model.safetensors"
    path.write_bytes(path.read_bytes()[:-100])


def weights_hash_not_recorded(d):
    edit_config(d, lambda c: c["files"].pop("model.safetensors"))


def config_not_json(d):
    (d / "config.json").write_text('{"format": "elman", ')


def config_not_elman(d):
    (d / "config.json").write_text("[1, 2]")


def model_section_not_an_object(d):
    edit_config(d, lambda c: c.update(model=None))


def tokenizer_section_not_an_object(d):
    edit_config(d, lambda c: c.update(tokenizer="char"))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (
            newer_version,
            rf"format version {files.FORMAT_VERSION + 1}, but this elman reads versions 1 to "
            rf"{files.FORMAT_VERSION}; upgrade",
        ),
        (unknown_model_key, r"unknown settings \['attention_heads'\]"),
        (unknown_train_key, r"unknown settings \['warmup'\]"),
        (bad_model_value, r"--hidden must be a positive integer, got 0"),
        (missing_tensor, r"missing tensors \['rnn.1.W_h'\], unexpected tensors \[\]"),
        (extra_tensor, r"missing tensors \[\], unexpected tensors \['rnn.2.W_h'\]"),
        (wrong_shape, r"tensor rnn.0.W_x has shape \(8, 6\), expected \(6, 8\)"),
        (nan_weight, r"NaN or infinite weights"),
        (vocab_token_removed, r"vocab.json has \d+ tokens but the model expects \d+"),
        (vocab_level_changed, r"holds a char-level vocabulary but config.json says 'word'"),
        (vocab_edited_after_saving, r"vocab.json is damaged: its content does not match the"),
        (vocab_missing, r"vocab.json is missing; the checkpoint is incomplete"),
        (weights_missing, r"model.safetensors is missing"),
        (truncated_weights, r"model.safetensors is not a readable safetensors file"),
        (truncated_header, r"model.safetensors is not a readable safetensors file"),
        (weights_truncated_after_saving, r"model.safetensors is damaged: its content does not"),
        (weights_hash_not_recorded, r"'files' is .*, expected the SHA-256 of model.safetensors"),
        (config_not_json, r"config.json is not valid JSON"),
        (config_not_elman, r"config.json is not an elman checkpoint config"),
        (model_section_not_an_object, r"config.json: 'model' is null, expected a JSON object"),
        (tokenizer_section_not_an_object, r"'tokenizer' is a string, expected a JSON object"),
    ],
)
def test_damaged_checkpoint_is_refused(saved, damage, message):
    directory = saved[0]
    damage(directory)
    with pytest.raises(ElmanError, match=message) as info:
        checkpoint.load(directory)
    assert "\n" not in str(info.value)


def test_missing_directory_is_refused(tmp_path):
    with pytest.raises(ElmanError, match=r"nowhere is not a directory; pass the --out"):
        checkpoint.load(tmp_path / "nowhere")


def test_directory_without_config_is_refused(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(ElmanError, match=r"not an elman checkpoint \(it has no config.json\)"):
        checkpoint.load(tmp_path)


def test_config_value_of_the_wrong_type_is_refused(saved):
    directory = saved[0]
    edit_config(directory, lambda c: c["train"].update(lr="fast"))
    with pytest.raises(ElmanError, match="lr"):
        checkpoint.load(directory)


def test_checkpoint_from_before_the_cell_options_still_loads(saved):
    """A config.json written before dropout, tying, cells and the state switch existed
    (only vocab_size, embed, hidden, cell, layers) loads with their defaults."""
    directory, model, _, _ = saved
    old = ("vocab_size", "embed", "hidden", "cell", "layers")
    edit_config(directory, lambda c: c.update(model={k: c["model"][k] for k in old}))
    loaded = checkpoint.load(directory)
    assert loaded.model.config == model.config
    assert np.array_equal(loaded.model.flat_params, model.flat_params)


def test_checkpoint_from_before_the_adaptive_softmax_loads_with_a_full_softmax(saved):
    """A config.json without softmax, cutoffs and div_value loads as the full softmax."""
    directory, model, _, _ = saved
    new = ("softmax", "cutoffs", "div_value")
    edit_config(directory, lambda c: [c["model"].pop(k) for k in new])
    loaded = checkpoint.load(directory)
    assert loaded.model.config.softmax == "full" and loaded.model.config == model.config
    assert np.array_equal(loaded.model.flat_params, model.flat_params)


def test_adaptive_softmax_round_trip(tmp_path):
    """Word level, --softmax adaptive with the default cutoffs: config.json names the
    cutoffs in force, model.safetensors holds every output.head/output.tail tensor, and
    the loaded model has the same weights, log-probabilities and generated text."""
    tok = WordTokenizer.fit(TEXT * 3 + "a b c d e f g h i j\n")
    config = LanguageModelConfig(vocab_size=len(tok), embed=6, hidden=16, softmax="adaptive")
    model = LanguageModel(config, seed=2)
    model.flat_params += np.random.default_rng(0).normal(0, 0.5, model.flat_params.shape)
    checkpoint.save(tmp_path, model, tok)

    saved = json.loads((tmp_path / "config.json").read_text(encoding="utf-8"))["model"]
    V = len(tok)
    assert saved["softmax"] == "adaptive" and saved["cutoffs"] == f"{V // 5},{V // 2}"
    names = set(safetensors.numpy.load_file(tmp_path / "model.safetensors"))
    assert names == set(model.params)
    assert {"output.head.W", "output.head.b", "output.tail.1.out"} <= names
    assert "output.W" not in names

    ckpt = checkpoint.load(tmp_path)
    assert ckpt.model.config == model.config
    for name, p in model.params.items():
        assert np.array_equal(ckpt.model.params[name], p), name
    ids = tok.encode("the quick brown fox\n")[None, :]
    assert np.array_equal(ckpt.model.logits(ids)[0], model.logits(ids)[0])
    assert generate(ckpt.model, tok, "the", 20, seed=3) == generate(model, tok, "the", 20, seed=3)


@pytest.fixture
def subword_saved(tmp_path):
    tok = SubwordTokenizer.fit(corpus(100), vocab_size=320)
    model = LanguageModel(ModelConfig(vocab_size=len(tok), embed=6, hidden=8), seed=1)
    tokenizer_config = TokenizerConfig(level="subword", vocab_size=320)
    checkpoint.save(tmp_path / "ckpt", model, tok, tokenizer_config=tokenizer_config)
    return tmp_path / "ckpt", model, tok


def test_a_subword_vocabulary_keeps_its_model_beside_it_with_its_hash(subword_saved):
    """vocab.model is sentencepiece's own file; config.json records its sha256 (files)
    beside the other files', and a character or word checkpoint has no such file."""
    directory, model, tok = subword_saved
    assert {p.name for p in directory.iterdir()} == FILES | {"vocab.model"}
    data = (directory / "vocab.model").read_bytes()
    config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    assert data == tok.files()["model"]
    assert config["files"]["vocab.model"] == hashlib.sha256(data).hexdigest()
    ckpt = checkpoint.load(directory)
    assert (
        ckpt.tokenizer == tok
        and ckpt.tokenizer.encode("영화 😀").tolist() == tok.encode("영화 😀").tolist()
    )
    assert generate(ckpt.model, ckpt.tokenizer, "영화", 20, seed=2) == generate(
        model, tok, "영화", 20, seed=2
    )
    char_model, char_tok = make()
    checkpoint.save(directory.parent / "char", char_model, char_tok)
    char_files = json.loads((directory.parent / "char" / "config.json").read_text())["files"]
    assert set(char_files) == {"vocab.json", "model.safetensors"}


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: (d / "vocab.model").write_bytes(b"\0" + (d / "vocab.model").read_bytes()),
         "vocab.model is damaged: its content does not match the hash recorded in config.json"),
        (lambda d: (d / "vocab.model").unlink(), "vocab.model is missing"),
        (lambda d: edit_config(d, lambda c: c["files"].pop("vocab.model")),
         "records no sha256 for vocab.model"),
        (lambda d: edit_config(d, lambda c: c.update(files=["vocab.model"])),
         r"'files' is \['vocab.model'\], expected the SHA-256"),
    ],
)  # fmt: skip
def test_a_damaged_or_unrecorded_sentencepiece_model_is_refused(subword_saved, damage, message):
    directory, _, _ = subword_saved
    damage(directory)
    with pytest.raises(ElmanError, match=message):
        checkpoint.load(directory)
