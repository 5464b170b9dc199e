"""Checkpoints are data: a directory of JSON and safetensors, never a pickle.

    DIR/config.json         format version, model config, tokenizer level, training settings
    DIR/vocab.json          the tokens, id by id
    DIR/model.safetensors   every parameter under its name in ``LanguageModel.params``

Loading checks the format version, the config, the vocabulary against the config,
and every tensor's name and shape, and says what is wrong and what to do.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import safetensors
import safetensors.numpy

from elman.config import ModelConfig, TrainConfig, from_dict
from elman.data.tokenizers import CharTokenizer, WordTokenizer, load_vocab, save_vocab
from elman.errors import ElmanError
from elman.model import LanguageModel

FORMAT_VERSION = 1
CONFIG_FILE, VOCAB_FILE, WEIGHTS_FILE = "config.json", "vocab.json", "model.safetensors"
LANGUAGE_MODEL = "language-model"  # the ``kind`` of checkpoint this module saves and loads


@dataclass
class Checkpoint:
    """A trained model with what it needs to be used: its tokenizer and how it was trained."""

    model: LanguageModel
    tokenizer: CharTokenizer | WordTokenizer
    train_config: TrainConfig = field(default_factory=TrainConfig)
    info: dict[str, Any] = field(default_factory=dict)  # free-form: epoch, step, valid perplexity


def write_checkpoint(
    directory: str | os.PathLike,
    kind: str,
    sections: dict[str, Any],
    tensors: dict[str, np.ndarray],
    tokenizer: CharTokenizer | WordTokenizer,
) -> None:
    """Write any kind of model: ``config.json`` (format, version, ``kind`` and the
    JSON ``sections``), ``vocab.json`` and ``model.safetensors`` (float32).

    Each file is written to a temporary name in the same directory and renamed
    over the old one, so a crash never leaves a half-written file behind.
    """
    directory = Path(directory)
    config = {"format": "elman", "format_version": FORMAT_VERSION, "kind": kind, **sections}
    arrays = {name: np.ascontiguousarray(t, np.float32) for name, t in tensors.items()}
    try:
        directory.mkdir(parents=True, exist_ok=True)
        # Serialised to bytes and written like the JSON files: safetensors' save_file
        # creates its files readable by their owner only (mode 0600).
        weights = safetensors.numpy.save(arrays, metadata={"format_version": str(FORMAT_VERSION)})
        _atomic(directory / WEIGHTS_FILE, lambda path: Path(path).write_bytes(weights))
        _atomic(directory / VOCAB_FILE, lambda path: save_vocab(tokenizer, path))
        _atomic(
            directory / CONFIG_FILE,
            lambda path: Path(path).write_text(
                json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
            ),
        )
    except OSError as e:
        raise ElmanError(
            f"cannot write the checkpoint to {directory}: {e.strerror or e}; "
            "check the path, its permissions and the free disk space."
        ) from e


def _atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read_checkpoint(
    directory: str | os.PathLike, kind: str, sections: tuple[str, ...]
) -> tuple[dict[str, Any], CharTokenizer | WordTokenizer, dict[str, np.ndarray]]:
    """Read and check the files of a checkpoint of ``kind``: its config (each of
    ``sections`` a JSON object), its vocabulary and its tensors."""
    directory = Path(directory)
    config_path = directory / CONFIG_FILE
    if not directory.is_dir():
        raise ElmanError(
            f"{directory} is not a directory; pass the --out directory of a training run."
        )
    if not config_path.is_file():
        raise ElmanError(
            f"{directory} is not an elman checkpoint (it has no {CONFIG_FILE}); "
            "pass the --out directory of a training run."
        )
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ElmanError(
            f"{config_path} is not valid JSON ({e}); the checkpoint is damaged, "
            "retrain or restore it."
        ) from e
    if not isinstance(config, dict) or config.get("format") != "elman":
        raise ElmanError(
            f"{config_path} is not an elman checkpoint config; pass the --out "
            "directory of a training run."
        )
    version = config.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
        raise ElmanError(
            f"{directory} has checkpoint format version {version!r}, but this elman "
            f"reads versions 1 to {FORMAT_VERSION}; upgrade elman to load it."
        )
    found = config.get("kind", LANGUAGE_MODEL)  # written before kinds existed: a language model
    if found != kind:
        raise ElmanError(
            f"{directory} holds a {found} checkpoint, not a {kind}; use the elman command "
            f"that trained it."
        )
    for section in sections:
        if not isinstance(config.get(section, {}), dict):
            raise ElmanError(
                f"{config_path}: {section!r} is {_json_type(config[section])}, expected a JSON "
                "object; the checkpoint is damaged, retrain or restore it."
            )
    tokenizer = load_vocab(directory / VOCAB_FILE)
    return config, tokenizer, _read_tensors(directory / WEIGHTS_FILE)


def copy_tensors(
    params: dict[str, np.ndarray], tensors: dict[str, np.ndarray], where: Path
) -> None:
    """Copy ``tensors`` into ``params`` after checking that names and shapes match."""
    missing = sorted(set(params) - set(tensors))
    unexpected = sorted(set(tensors) - set(params))
    if missing or unexpected:
        raise ElmanError(
            f"{where} does not match its config: missing tensors {missing}, unexpected "
            f"tensors {unexpected}; retrain or restore the checkpoint."
        )
    for name, param in params.items():
        if tensors[name].shape != param.shape:
            raise ElmanError(
                f"{where}: tensor {name} has shape {tensors[name].shape}, expected "
                f"{param.shape} from {CONFIG_FILE}; the files do not belong together, "
                "retrain or restore the checkpoint."
            )
        param[...] = tensors[name]
        if not np.all(np.isfinite(param)):
            raise ElmanError(
                f"{where} holds NaN or infinite weights in {name}; use an earlier checkpoint "
                "or retrain with a lower --lr."
            )


def save(
    directory: str | os.PathLike,
    model: LanguageModel,
    tokenizer: CharTokenizer | WordTokenizer,
    train_config: TrainConfig | None = None,
    info: dict[str, Any] | None = None,
) -> None:
    """Write a language model's checkpoint into ``directory`` (created if needed)."""
    sections = {
        "model": dataclasses.asdict(model.config),
        "tokenizer": {"level": tokenizer.level},
        "train": dataclasses.asdict(train_config or TrainConfig()),
        "info": info or {},
    }
    write_checkpoint(directory, LANGUAGE_MODEL, sections, model.params, tokenizer)


def load(directory: str | os.PathLike, dtype: np.dtype | type = np.float32) -> Checkpoint:
    """Read and validate the language-model checkpoint in ``directory``."""
    directory = Path(directory)
    config, tokenizer, tensors = read_checkpoint(
        directory, LANGUAGE_MODEL, ("model", "train", "tokenizer", "info")
    )
    where = str(directory / CONFIG_FILE)
    model_config = from_dict(ModelConfig, config.get("model", {}), where=where)
    train_config = from_dict(TrainConfig, config.get("train", {}), where=where)
    level = config.get("tokenizer", {}).get("level")
    if tokenizer.level != level:
        raise ElmanError(
            f"{directory / VOCAB_FILE} holds a {tokenizer.level}-level vocabulary but "
            f"{CONFIG_FILE} says {level!r}; the checkpoint was edited or mixed up, retrain it."
        )
    if len(tokenizer) != model_config.vocab_size:
        raise ElmanError(
            f"{directory / VOCAB_FILE} has {len(tokenizer)} tokens but the model expects "
            f"{model_config.vocab_size}; the vocabulary does not belong to this model."
        )
    model = LanguageModel(model_config, dtype=dtype)
    copy_tensors(model.params, tensors, directory / WEIGHTS_FILE)
    return Checkpoint(model, tokenizer, train_config, config.get("info", {}))


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {str: "a string", list: "an array", bool: "a boolean"}.get(type(value), "a number")


def _read_tensors(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise ElmanError(f"{path} is missing; the checkpoint is incomplete, retrain or restore it.")
    try:
        return safetensors.numpy.load_file(path)
    except (safetensors.SafetensorError, OSError, ValueError) as e:
        raise ElmanError(
            f"{path} is not a readable safetensors file ({e}); the checkpoint is "
            "damaged, retrain or restore it."
        ) from e
