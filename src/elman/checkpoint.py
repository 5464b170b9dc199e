"""Checkpoints are data: a directory of JSON and safetensors, never a pickle.

    DIR/config.json         format version, kind, the kind's settings and records,
                            and which file holds each named vocabulary
    DIR/vocab.json          the first vocabulary, its tokens id by id
    DIR/vocab-NAME.json     any further vocabulary (a translator has two)
    DIR/model.safetensors   every parameter under its name

This module is the file I/O every model kind shares: atomic writes, tensors with a
content hash, the config's sections, vocabularies by name, and the checks that say
what is wrong with a directory and what to do. Each kind's package says what its
sections and vocabularies are (``elman.lm.checkpoint``, ``elman.classify.checkpoint``,
...).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import safetensors
import safetensors.numpy

from elman.data.tokenizers import Tokenizer, load_vocab, save_vocab
from elman.errors import ElmanError
from elman.strict_json import dumps

# 2: named vocabularies, text normalisation recorded in them. Version 1 is still read.
FORMAT_VERSION = 2
CONFIG_FILE, VOCAB_FILE, WEIGHTS_FILE = "config.json", "vocab.json", "model.safetensors"
LANGUAGE_MODEL = "language-model"  # what a checkpoint without a kind (the first ones) holds


def vocab_file(names: list[str], name: str) -> str:
    """The file of vocabulary ``name``: vocab.json for the first, vocab-NAME.json after."""
    return VOCAB_FILE if name == names[0] else f"vocab-{name}.json"


def write_checkpoint(
    directory: str | os.PathLike,
    kind: str,
    sections: dict[str, Any],
    tensors: dict[str, np.ndarray],
    vocabularies: dict[str, Tokenizer],
) -> None:
    """Write any kind of model: ``config.json`` (format, version, ``kind``, the JSON
    ``sections`` and the vocabulary files by name), one vocabulary file per entry of
    ``vocabularies`` and ``model.safetensors`` (float32).

    Each file is written to a temporary name in the same directory and renamed
    over the old one, so a crash never leaves a half-written file behind.
    """
    directory = Path(directory)
    names = list(vocabularies)
    files = {name: vocab_file(names, name) for name in names}
    config = {
        "format": "elman",
        "format_version": FORMAT_VERSION,
        "kind": kind,
        **sections,
        "vocabularies": files,
    }
    arrays = {name: np.ascontiguousarray(t, np.float32) for name, t in tensors.items()}
    try:
        directory.mkdir(parents=True, exist_ok=True)
        # Serialised to bytes and written like the JSON files: safetensors' save_file
        # creates its files readable by their owner only (mode 0600).
        write_tensors(directory / WEIGHTS_FILE, arrays)
        for name, tokenizer in vocabularies.items():
            atomic_write(
                directory / files[name],
                lambda path, tokenizer=tokenizer: save_vocab(tokenizer, path),
            )
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


def atomic_write_text(path: Path, text: str) -> None:
    """``text`` into ``path`` as UTF-8, by ``atomic_write``."""
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def atomic_write_together(writes: dict[Path, Callable[[Path], object]]) -> None:
    """Several files that belong together (a report's page and figures, an export and
    its sidecar), each written as ``atomic_write`` writes one, and renamed only once all
    are written: a full disk or a write refused leaves every old file as it was, not a
    new one beside an old one."""
    temporary = {path: path.with_name(f".{path.name}.tmp") for path in writes}
    try:
        for path, write in writes.items():
            write(temporary[path])
            with open(temporary[path], "rb+") as f:
                os.fsync(f.fileno())
        for path, tmp in temporary.items():
            os.replace(tmp, path)
    finally:
        for tmp in temporary.values():
            tmp.unlink(missing_ok=True)


def check_output_file(path: str | os.PathLike, flag: str) -> Path:
    """Refuse, before any work, a file to write that cannot be written where asked: a
    directory of that name, or a directory for it that does not exist."""
    path = Path(path)
    if path.is_dir():
        raise ElmanError(
            f"{flag} {path} is a directory; give the name of a file to write (in it, e.g. "
            f"{path / path.name}, or elsewhere)."
        )
    if not path.parent.is_dir():
        raise ElmanError(f"the directory of {flag} {path} does not exist; create it first.")
    return path


def check_output_directory(path: str | os.PathLike, flag: str) -> Path:
    """Refuse, before any work, a directory to write into that is a file (or lies under
    one); it is created when the first file is written into it."""
    path = Path(path)
    for ancestor in (path, *path.parents):
        if ancestor.exists():
            if not ancestor.is_dir():
                raise ElmanError(
                    f"{flag} {path} cannot be a directory, as {ancestor} is a file; give the "
                    "path of a directory (it is created if it does not exist)."
                )
            break
    return path


def tensor_digest(tensors: dict[str, np.ndarray]) -> str:
    """SHA-256 of the tensors' names, dtypes, shapes and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        t = np.ascontiguousarray(tensors[name])
        digest.update(f"{name}|{t.dtype.str}|{t.shape}|".encode())
        digest.update(t.tobytes())
    return digest.hexdigest()


def write_tensors(path: Path, tensors: dict[str, np.ndarray], header: dict | None = None) -> None:
    """One safetensors file, written atomically, with a JSON ``header`` (and the format
    version and a content hash) in its metadata.

    All of it goes into one metadata entry, "elman", as JSON with sorted keys:
    safetensors writes its metadata entries in no fixed order, and a training run resumed
    after a crash must write the same bytes as one never interrupted. Serialised to bytes
    and written like the JSON files: safetensors' save_file creates its files readable by
    their owner only (mode 0600)."""
    record = {"format_version": FORMAT_VERSION, "sha256": tensor_digest(tensors), **(header or {})}
    metadata = {"elman": json.dumps(record, sort_keys=True)}
    data = safetensors.numpy.save(tensors, metadata=metadata)
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


def read_tensors(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The tensors of a safetensors file and its header, after checking the content hash,
    so that a damaged or edited file is refused rather than silently used. Files written
    before the one "elman" entry keep their entries apart, a JSON string under "resume"."""
    if not path.is_file():
        raise ElmanError(f"{path} is missing; the checkpoint is incomplete, retrain or restore it.")
    try:
        with safetensors.safe_open(path, framework="numpy") as f:
            metadata = f.metadata() or {}
            tensors = {name: f.get_tensor(name) for name in f.keys()}  # noqa: SIM118
        if "elman" in metadata:
            header = json.loads(metadata["elman"])
        else:
            header = dict(metadata)
            if "resume" in header:
                header["resume"] = json.loads(header["resume"])
    except (safetensors.SafetensorError, OSError, ValueError) as e:
        raise ElmanError(
            f"{path} is not a readable safetensors file ({e}); the checkpoint is "
            "damaged, retrain or restore it."
        ) from e
    expected = header.get("sha256")
    if expected is not None and tensor_digest(tensors) != expected:
        raise ElmanError(
            f"{path} is damaged: its content does not match the hash recorded when it was "
            "written; restore it from a copy or retrain."
        )
    return tensors, header


def read_config(directory: str | os.PathLike) -> dict[str, Any]:
    """The checked ``config.json`` of a checkpoint directory, of any kind."""
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
    return config


def kind_of(config: dict[str, Any]) -> str:
    """The kind of model a checkpoint's config describes."""
    return config.get("kind", LANGUAGE_MODEL)  # written before kinds existed: a language model


def read_checkpoint(
    directory: str | os.PathLike,
    kind: str,
    sections: tuple[str, ...],
    vocabularies: tuple[str, ...],
) -> tuple[dict[str, Any], dict[str, Tokenizer], dict[str, np.ndarray]]:
    """Read and check the files of a checkpoint of ``kind``: its config (each of
    ``sections`` a JSON object), its named ``vocabularies`` and its tensors. A checkpoint
    from before vocabularies had names holds the first one in vocab.json and no other."""
    directory = Path(directory)
    config = read_config(directory)
    config_path = directory / CONFIG_FILE
    found = kind_of(config)
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
    files = config.get("vocabularies", {vocabularies[0]: VOCAB_FILE})
    if not isinstance(files, dict) or not all(
        isinstance(name, str) and isinstance(file, str) and "/" not in file
        for name, file in files.items()
    ):
        raise ElmanError(
            f"{config_path}: 'vocabularies' is {files!r}, expected names and file names; the "
            "checkpoint is damaged, retrain or restore it."
        )
    tokenizers = {name: load_vocab(directory / file) for name, file in files.items()}
    tensors, _ = read_tensors(directory / WEIGHTS_FILE)
    return config, tokenizers, tensors


def vocabulary(
    directory: Path,
    config: dict[str, Any],
    vocabularies: dict[str, Tokenizer],
    name: str,
    size: int,
    level: str | None = None,
) -> Tokenizer:
    """The vocabulary called ``name`` of a checkpoint read by ``read_checkpoint``, checked
    against the model's ``size`` and, when given, the ``level`` its config names."""
    file = directory / config.get("vocabularies", {name: VOCAB_FILE}).get(name, VOCAB_FILE)
    tokenizer = vocabularies.get(name)
    if tokenizer is None:
        raise ElmanError(
            f"{directory / CONFIG_FILE} names no vocabulary {name!r}; the checkpoint was "
            "edited or mixed up, retrain it."
        )
    if level is not None and tokenizer.level != level:
        raise ElmanError(
            f"{file} holds a {tokenizer.level}-level vocabulary but {CONFIG_FILE} says "
            f"{level!r}; the checkpoint was edited or mixed up, retrain it."
        )
    if len(tokenizer) != size:
        raise ElmanError(
            f"{file} has {len(tokenizer)} tokens but the model expects {size}; the vocabulary "
            "does not belong to this model."
        )
    return tokenizer


def distinct_names(value: Any, where: str, what: str, minimum: int) -> list[str]:
    """A checkpoint's list of labels or tags, refused unless it holds at least ``minimum``
    distinct non-empty strings."""
    if (
        not isinstance(value, list)
        or len(value) < minimum
        or not all(isinstance(name, str) and name for name in value)
        or len(set(value)) != len(value)
    ):
        raise ElmanError(
            f"{where}: {what} is {value!r}, expected a list of {minimum} or more distinct "
            "names; the checkpoint is damaged, retrain or restore it."
        )
    return value


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


def existing_section(config_path: Path, section: str) -> dict[str, Any]:
    """A section of the config already in a directory ({} when there is none), for a
    save that keeps what it does not change."""
    try:
        value = json.loads(config_path.read_text(encoding="utf-8")).get(section, {})
    except (OSError, ValueError, AttributeError):
        return {}
    return value if isinstance(value, dict) else {}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {str: "a string", list: "an array", bool: "a boolean"}.get(type(value), "a number")
