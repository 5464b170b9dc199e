"""Checkpoints are data: a directory of JSON and safetensors, never a pickle.

    DIR/config.json         format version, model config, tokenizer level, training settings
    DIR/vocab.json          the tokens, id by id
    DIR/model.safetensors   every parameter under its name in ``LanguageModel.params``

Loading checks the format version, the config, the vocabulary against the config,
and every tensor's name and shape, and says what is wrong and what to do.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Callable
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
from elman.numbers import dumps

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
    data: dict[str, Any] = field(default_factory=dict)  # the texts it was trained on, for --resume


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
        write_tensors(directory / WEIGHTS_FILE, arrays)
        atomic_write(directory / VOCAB_FILE, lambda path: save_vocab(tokenizer, path))
        atomic_write(
            directory / CONFIG_FILE,
            lambda path: Path(path).write_text(
                dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
            ),
        )
    except OSError as e:
        raise ElmanError(
            f"cannot write the checkpoint to {directory}: {e.strerror or e}; "
            "check the path, its permissions and the free disk space."
        ) from e


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Call ``write`` on a temporary file beside ``path``, flush it to disk and rename
    it over ``path``: a crash at any moment leaves the old file or the new one."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def tensor_digest(tensors: dict[str, np.ndarray]) -> str:
    """SHA-256 of the tensors' names, dtypes, shapes and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        t = np.ascontiguousarray(tensors[name])
        digest.update(f"{name}|{t.dtype.str}|{t.shape}|".encode())
        digest.update(t.tobytes())
    return digest.hexdigest()


def write_tensors(
    path: Path, tensors: dict[str, np.ndarray], metadata: dict[str, str] | None = None
) -> None:
    """One safetensors file, written atomically, with its content hash in the header.

    Serialised to bytes and written like the JSON files: safetensors' save_file
    creates its files readable by their owner only (mode 0600)."""
    header = {"format_version": str(FORMAT_VERSION), "sha256": tensor_digest(tensors)}
    data = safetensors.numpy.save(tensors, metadata={**header, **(metadata or {})})
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


def read_tensors(path: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The tensors of a safetensors file and its metadata, after checking the content
    hash, so that a damaged or edited file is refused rather than silently used."""
    if not path.is_file():
        raise ElmanError(f"{path} is missing; the checkpoint is incomplete, retrain or restore it.")
    try:
        with safetensors.safe_open(path, framework="numpy") as f:
            metadata = f.metadata() or {}
            tensors = {name: f.get_tensor(name) for name in f.keys()}  # noqa: SIM118
    except (safetensors.SafetensorError, OSError, ValueError) as e:
        raise ElmanError(
            f"{path} is not a readable safetensors file ({e}); the checkpoint is "
            "damaged, retrain or restore it."
        ) from e
    expected = metadata.get("sha256")
    if expected is not None and tensor_digest(tensors) != expected:
        raise ElmanError(
            f"{path} is damaged: its content does not match the hash recorded when it was "
            "written; restore it from a copy or retrain."
        )
    return tensors, metadata


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
    tensors, _ = read_tensors(directory / WEIGHTS_FILE)
    return config, tokenizer, tensors


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
    data: dict[str, Any] | None = None,
) -> None:
    """Write a language model's checkpoint into ``directory`` (created if needed).
    ``data`` records the training texts so that ``--resume`` can check them; when
    None, the record already in ``directory`` is kept."""
    if data is None:
        data = _existing_section(Path(directory) / CONFIG_FILE, "data")
    sections = {
        "model": dataclasses.asdict(model.config),
        "tokenizer": {"level": tokenizer.level},
        "train": dataclasses.asdict(train_config or TrainConfig()),
        "info": info or {},
        "data": data,
    }
    write_checkpoint(directory, LANGUAGE_MODEL, sections, model.params, tokenizer)


def load(directory: str | os.PathLike, dtype: np.dtype | type = np.float32) -> Checkpoint:
    """Read and validate the language-model checkpoint in ``directory``."""
    directory = Path(directory)
    config, tokenizer, tensors = read_checkpoint(
        directory, LANGUAGE_MODEL, ("model", "train", "tokenizer", "info", "data")
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
    return Checkpoint(
        model, tokenizer, train_config, config.get("info", {}), config.get("data", {})
    )


def _existing_section(config_path: Path, section: str) -> dict[str, Any]:
    try:
        value = json.loads(config_path.read_text(encoding="utf-8")).get(section, {})
    except (OSError, ValueError, AttributeError):
        return {}
    return value if isinstance(value, dict) else {}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {str: "a string", list: "an array", bool: "a boolean"}.get(type(value), "a number")
