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


@dataclass
class Checkpoint:
    """A trained model with what it needs to be used: its tokenizer and how it was trained."""

    model: LanguageModel
    tokenizer: CharTokenizer | WordTokenizer
    train_config: TrainConfig = field(default_factory=TrainConfig)
    info: dict[str, Any] = field(default_factory=dict)  # free-form: epoch, step, valid perplexity


def save(
    directory: str | os.PathLike,
    model: LanguageModel,
    tokenizer: CharTokenizer | WordTokenizer,
    train_config: TrainConfig | None = None,
    info: dict[str, Any] | None = None,
) -> None:
    """Write a checkpoint into ``directory`` (created if needed).

    Each file is written to a temporary name in the same directory and renamed
    over the old one, so a crash never leaves a half-written file behind.
    """
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        config = {
            "format": "elman",
            "format_version": FORMAT_VERSION,
            "model": dataclasses.asdict(model.config),
            "tokenizer": {"level": tokenizer.level},
            "train": dataclasses.asdict(train_config or TrainConfig()),
            "info": info or {},
        }
        tensors = {name: np.ascontiguousarray(p, np.float32) for name, p in model.params.items()}
        # Serialised to bytes and written like the JSON files: safetensors' save_file
        # creates its files readable by their owner only (mode 0600).
        weights = safetensors.numpy.save(tensors, metadata={"format_version": str(FORMAT_VERSION)})
        _atomic(directory / WEIGHTS_FILE, lambda path: Path(path).write_bytes(weights))
        _atomic(directory / VOCAB_FILE, lambda path: save_vocab(tokenizer, path))
        _atomic(
            directory / CONFIG_FILE,
            lambda path: Path(path).write_text(
                json.dumps(config, indent=2) + "\n", encoding="utf-8"
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


def load(directory: str | os.PathLike, dtype: np.dtype | type = np.float32) -> Checkpoint:
    """Read and validate the checkpoint in ``directory``."""
    directory = Path(directory)
    config_path = directory / CONFIG_FILE
    if not directory.is_dir():
        raise ElmanError(
            f"{directory} is not a directory; pass the --out directory of `elman train`."
        )
    if not config_path.is_file():
        raise ElmanError(
            f"{directory} is not an elman checkpoint (it has no {CONFIG_FILE}); "
            "pass the --out directory of `elman train`."
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
            "directory of `elman train`."
        )
    version = config.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
        raise ElmanError(
            f"{directory} has checkpoint format version {version!r}, but this elman "
            f"reads versions 1 to {FORMAT_VERSION}; upgrade elman to load it."
        )
    for section in ("model", "train", "tokenizer", "info"):
        if not isinstance(config.get(section, {}), dict):
            raise ElmanError(
                f"{config_path}: {section!r} is {_json_type(config[section])}, expected a JSON "
                "object; the checkpoint is damaged, retrain or restore it."
            )
    model_config = from_dict(ModelConfig, config.get("model", {}), where=str(config_path))
    train_config = from_dict(TrainConfig, config.get("train", {}), where=str(config_path))
    tokenizer = load_vocab(directory / VOCAB_FILE)
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
    tensors = _read_tensors(directory / WEIGHTS_FILE)
    missing = sorted(set(model.params) - set(tensors))
    unexpected = sorted(set(tensors) - set(model.params))
    if missing or unexpected:
        raise ElmanError(
            f"{directory / WEIGHTS_FILE} does not match its config: missing tensors "
            f"{missing}, unexpected tensors {unexpected}; retrain or restore the checkpoint."
        )
    for name, param in model.params.items():
        if tensors[name].shape != param.shape:
            raise ElmanError(
                f"{directory / WEIGHTS_FILE}: tensor {name} has shape "
                f"{tensors[name].shape}, expected {param.shape} from {CONFIG_FILE}; "
                "the files do not belong together, retrain or restore the checkpoint."
            )
        param[...] = tensors[name]
    if not np.all(np.isfinite(model.flat_params)):
        raise ElmanError(
            f"{directory / WEIGHTS_FILE} holds NaN or infinite weights; "
            "use an earlier checkpoint or retrain with a lower --lr."
        )
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
