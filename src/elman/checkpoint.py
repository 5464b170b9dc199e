"""Checkpoints are data: a directory of JSON and safetensors, never a pickle.

    DIR/config.json         format version, kind, the kind's settings and records,
                            which file holds each named vocabulary, and the SHA-256 of
                            every other file of the checkpoint ("files")
    DIR/vocab.json          the first vocabulary, its tokens id by id
    DIR/vocab-NAME.json     any further vocabulary (a translator has two)
    DIR/vocab.model, ...    files a vocabulary needs beside it (a subword vocabulary's
                            sentencepiece model), their sha256 in config.json ("files")
    DIR/model.safetensors   every parameter under its name
    DIR/NAME                any further file a kind keeps (``write_checkpoint``'s ``files``)

This module is the file I/O every model kind shares: atomic writes, tensors with a
content hash, the config's sections, vocabularies by name, and the checks that say
what is wrong with a directory and what to do. Each kind's package says what its
sections and vocabularies are (``elman.lm.checkpoint``, ``elman.classify.checkpoint``,
...).

A checkpoint is replaced whole or not at all. Its files keep fixed names, and no file
system renames several files at once, so config.json is the commit record: it lists
every other file with its SHA-256, and it takes its name last. A save
(``write_checkpoint``), in the run directory and under its lock (``elman.runs``):

1. settles a save that was killed before (``_settle``, below);
2. stages the new files in DIR/.staged/, then the new config.json, each flushed to
   disk (fsync), with an empty DIR/.staged/.obsolete/NAME for each file of the old
   checkpoint that the new one lacks; nothing under the old checkpoint's names changes;
3. renames .staged/config.json over config.json: the commit;
4. renames each staged file over its name, removes the obsolete ones, then .staged.

A reader (``read_checkpoint``) takes each file config.json lists from .staged/ when the
one there has the recorded hash (a save between steps 3 and 4), else under its name,
and refuses a file whose hash is not the recorded one. So a kill at any moment leaves
the old checkpoint (before step 3) or the new one (from step 3 on), and it loads.
``_settle`` finishes step 4 for a committed save and undoes an uncommitted one: a
staged file that config.json lists with its hash takes its name, an obsolete file is
removed when config.json does not list it, and .staged goes. A file changed by hand
after the save, or damaged on disk, is refused with a sentence. Checkpoints of format
1 and 2 (no "files") are read as they were.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import safetensors
import safetensors.numpy

from elman import registry
from elman.config import from_dict
from elman.data.tokenizers import (
    FileReader,
    Tokenizer,
    extra_file,
    load_vocab,
    save_vocab,
    tokenizer_from_json,
)
from elman.errors import ElmanError
from elman.strict_json import dumps

# 2: named vocabularies, text normalisation recorded in them.
# 3: each kind owns its settings: "model" holds the recurrent stack and the kind's own
#    fields, "tokenizer" the tokenizer's settings, "train" the training loop's alone; and
#    config.json lists every file with its SHA-256, a save staging its files in STAGED (an
#    elman reading only format 2 would read a checkpoint caught between a save's steps 3
#    and 4 as a mix). Versions 1 and 2 are still read (``upgrade``).
FORMAT_VERSION = 3
CONFIG_FILE, VOCAB_FILE, WEIGHTS_FILE = "config.json", "vocab.json", "model.safetensors"
STAGED, OBSOLETE = ".staged", ".obsolete"  # a save's files before they take their names
# Reads of a checkpoint that a save replaced meanwhile, before giving up: each retry needs
# another whole save to land during the read.
READ_ATTEMPTS = 5
# Format 3 moved these settings out of the "train" section, into the section named.
MOVED_IN_3 = {"level": "tokenizer", "max_vocab": "tokenizer", "min_count": "tokenizer"}
# What the shared settings held before format 3 that only some kinds use now, at the
# values they had where unused: a kind whose config lacks one reads it only at that value
# (``config.from_dict``'s ``retired``).
RETIRED = {
    "bidirectional": False,
    "tie": False,
    "state": "carry",
    "softmax": "full",
    "cutoffs": "",
    "div_value": 4.0,
    "bptt": 64,
    "restart_every": 0,
}


class CheckpointFiles(NamedTuple):
    """What ``read_checkpoint`` found, each part checked against config.json."""

    config: dict[str, Any]
    vocabularies: dict[str, Tokenizer]  # by name
    tensors: dict[str, np.ndarray]  # by parameter name
    files: dict[str, bytes]  # the further files (``write_checkpoint``'s ``files``), by name


def vocab_file(names: list[str], name: str) -> str:
    """The file of vocabulary ``name``: vocab.json for the first, vocab-NAME.json after."""
    return VOCAB_FILE if name == names[0] else f"vocab-{name}.json"


def write_checkpoint(
    directory: str | os.PathLike,
    kind: str,
    sections: dict[str, Any],
    tensors: dict[str, np.ndarray],
    vocabularies: dict[str, Tokenizer],
    files: dict[str, bytes] | None = None,
) -> None:
    """Write any kind of model, replacing the checkpoint in ``directory`` whole (see the
    module doc): ``config.json`` (format, version, ``kind``, the JSON ``sections``, the
    vocabulary files by name, every other file's SHA-256), one vocabulary file per entry
    of ``vocabularies`` with the files it needs beside it (``vocabulary_files``: a
    subword vocabulary's sentencepiece model), ``model.safetensors`` (float32) and each
    of ``files`` (a name without a directory, not starting with ".") as given.

    A kill at any moment leaves the old checkpoint or the new one; an error (a full disk)
    leaves the old one and nothing else, and says so.
    """
    directory = Path(directory)
    names = list(vocabularies)
    vocab_files = {name: vocab_file(names, name) for name in names}
    arrays = {name: np.ascontiguousarray(t, np.float32) for name, t in tensors.items()}
    # Each file of the checkpoint by name, and how to write it to a path (returning what
    # it wrote). Serialised to bytes and written like the JSON files: safetensors'
    # save_file creates its files readable by their owner only (mode 0600).
    writers: dict[str, Callable[[Path], bytes]] = {
        WEIGHTS_FILE: lambda path: _write(path, tensor_bytes(arrays)),
        **{
            vocab_files[name]: lambda path, tokenizer=tokenizer: _write_vocab(path, tokenizer)
            for name, tokenizer in vocabularies.items()
        },
    }
    for name, data in {**vocabulary_files(vocabularies, vocab_files), **(files or {})}.items():
        if name in writers or name == CONFIG_FILE or not _plain(name):
            raise ValueError(f"{name!r} cannot name a further file of a checkpoint")
        writers[name] = lambda path, data=data: _write(path, data)
    config = {
        "format": "elman",
        "format_version": FORMAT_VERSION,
        "kind": kind,
        **sections,
        "vocabularies": vocab_files,
    }
    try:
        directory.mkdir(parents=True, exist_ok=True)
        _settle(directory)  # step 1
        staged = directory / STAGED
        staged.mkdir()
        hashes = {}
        for name, write in writers.items():  # step 2
            hashes[name] = _stage(staged / name, write)
            _reached(f"staged {name}")
        (staged / OBSOLETE).mkdir()
        for name in sorted(_listed(directory).keys() - hashes.keys()):
            (staged / OBSOLETE / name).touch()
        text = dumps({**config, "files": hashes}, indent=2, ensure_ascii=False) + "\n"
        _stage(staged / CONFIG_FILE, lambda path: _write(path, text.encode("utf-8")))
        for synced in (staged / OBSOLETE, staged, directory):
            _fsync_directory(synced)
        _reached("staged")
        os.replace(staged / CONFIG_FILE, directory / CONFIG_FILE)  # step 3: the commit
        _fsync_directory(directory)
        _reached("committed")
        _settle(directory, hashes)  # step 4
    except OSError as e:
        _settle_quietly(directory)
        raise ElmanError(
            f"cannot write the checkpoint to {directory}: {e.strerror or e}; "
            "check the path, its permissions and the free disk space."
        ) from e
    except BaseException:  # Ctrl-C: the old checkpoint or the new one, settled
        _settle_quietly(directory)
        raise


def _stage(path: Path, write: Callable[[Path], bytes]) -> str:
    """Write ``path`` with ``write``, flush it to disk, and return its SHA-256."""
    data = write(path)
    with open(path, "rb+") as f:
        os.fsync(f.fileno())
    return _sha256(data)


def _write(path: Path, data: bytes) -> bytes:
    path.write_bytes(data)
    return data


def _write_vocab(path: Path, tokenizer: Tokenizer) -> bytes:
    save_vocab(tokenizer, path)
    return path.read_bytes()


def _settle(directory: Path, committed: dict[str, str] | None = None) -> None:
    """Finish or undo the save whose files wait in ``directory``/.staged (see the module
    doc): each staged file that config.json lists with its hash takes its name, each
    file marked obsolete that config.json does not list is removed, and .staged goes.
    ``committed``: the files of the config.json this process has just committed, whose
    staged copies need no checking. Safe to stop at any moment and run again."""
    staged = directory / STAGED
    if not staged.is_dir():
        return
    listed = _listed(directory) if committed is None else committed
    for path in sorted(staged.iterdir()):
        recorded = listed.get(path.name)
        if recorded is None:
            continue  # config.json, obsolete, or a file of a save never committed
        if committed is not None or _sha256(path.read_bytes()) == recorded:
            os.replace(path, directory / path.name)
            _reached(f"installed {path.name}")
    obsolete = staged / OBSOLETE
    for marker in sorted(obsolete.iterdir()) if obsolete.is_dir() else ():
        if marker.name not in listed:
            (directory / marker.name).unlink(missing_ok=True)
            _reached(f"removed {marker.name}")
    shutil.rmtree(staged)  # on disk with the next save's commit, which needs it no sooner
    _reached("settled")


def _settle_quietly(directory: Path) -> None:
    """``_settle`` after a save failed: what it cannot do now, the next save does."""
    with suppress(OSError):
        _settle(directory)


def _listed(directory: Path) -> dict[str, str | None]:
    """The files of the checkpoint in ``directory`` by name, each with the SHA-256 its
    config.json records (None for a checkpoint of format 1 or 2); {} without one."""
    try:
        config = json.loads((directory / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(config, dict):
        return {}
    files = config.get("files")
    if isinstance(files, dict):
        return {name: sha for name, sha in files.items() if _plain(name) and isinstance(sha, str)}
    vocabularies = config.get("vocabularies", {"": VOCAB_FILE})
    names = [WEIGHTS_FILE, *(vocabularies.values() if isinstance(vocabularies, dict) else ())]
    return {name: None for name in names if _plain(name)}


def _plain(name: Any) -> bool:
    """Whether ``name`` names a file of a checkpoint: in its directory, and not hidden."""
    return isinstance(name, str) and bool(name) and "/" not in name and not name.startswith(".")


def _fsync_directory(path: Path) -> None:
    """Flush a directory's entries (files created, renamed, removed in it) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _reached(step: str) -> None:
    """Each step of a save ends here; it does nothing. A test replaces it to stop the
    writer between two steps (tests/test_checkpoint_kills.py)."""


def read_settings(config: dict[str, Any], classes: dict[str, type], where: str) -> dict[str, Any]:
    """Each section's settings in config.json (``config``), as the dataclass ``classes``
    names for it; a setting an older format kept in the section is dropped while it holds
    the value it held when unused (``RETIRED``)."""
    return {
        section: from_dict(cls, config.get(section, {}), where, RETIRED)
        for section, cls in classes.items()
    }


def sections_of(settings: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A checkpoint's settings (section -> config dataclass) as its config.json sections."""
    return {section: dataclasses.asdict(config) for section, config in settings.items()}


def vocabulary_files(vocabularies: dict[str, Tokenizer], files: dict[str, str]) -> dict[str, bytes]:
    """The files the vocabularies need beside them (``Tokenizer.files``), by file name:
    vocab.model beside vocab.json (``extra_file``)."""
    return {
        extra_file(files[name], key): data
        for name, tokenizer in vocabularies.items()
        for key, data in tokenizer.files().items()
    }


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


def tensor_bytes(tensors: dict[str, np.ndarray], header: dict | None = None) -> bytes:
    """A safetensors file of ``tensors``, with a JSON ``header`` (and the format version
    and a content hash) in its metadata.

    All of it goes into one metadata entry, "elman", as JSON with sorted keys:
    safetensors writes its metadata entries in no fixed order, and a training run resumed
    after a crash must write the same bytes as one never interrupted."""
    record = {"format_version": FORMAT_VERSION, "sha256": tensor_digest(tensors), **(header or {})}
    return safetensors.numpy.save(tensors, metadata={"elman": json.dumps(record, sort_keys=True)})


def write_tensors(path: Path, tensors: dict[str, np.ndarray], header: dict | None = None) -> None:
    """``tensor_bytes`` written atomically to ``path``. Serialised to bytes and written like
    the JSON files: safetensors' save_file creates its files readable by their owner only
    (mode 0600)."""
    data = tensor_bytes(tensors, header)
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
    return upgrade(config)


def upgrade(config: dict[str, Any]) -> dict[str, Any]:
    """A config of an older format as format 3 lays it out: the settings the "train"
    section held for the tokenizer moved to its section (``MOVED_IN_3``); a section that
    already names one keeps its own (a tagger's "tokenizer" said "word" while its unused
    "train" level said "char")."""
    if config["format_version"] >= 3 or not isinstance(config.get("train"), dict):
        return config
    config = {key: dict(v) if isinstance(v, dict) else v for key, v in config.items()}
    for key, section in MOVED_IN_3.items():
        if key in config["train"]:
            value = config["train"].pop(key)
            if isinstance(config.setdefault(section, {}), dict):
                config[section].setdefault(key, value)
    return config


def kind_of(config: dict[str, Any]) -> str:
    """The kind of model a checkpoint's config describes (its registered name); a config
    from before kinds existed names none, and is the kind registered to read those."""
    return registry.named(config.get("kind")).name


def read_checkpoint(
    directory: str | os.PathLike,
    kind: str,
    sections: tuple[str, ...],
    vocabularies: tuple[str, ...],
) -> CheckpointFiles:
    """Read and check the files of a checkpoint of ``kind``: its config (each of
    ``sections`` a JSON object), its named ``vocabularies``, its tensors and any further
    files, each with the SHA-256 config.json records for it (see the module doc). A
    checkpoint from before vocabularies had names holds the first one in vocab.json and
    no other; one from before the hashes (format 1 and 2) is read as it was."""
    directory = Path(directory)
    for _ in range(READ_ATTEMPTS):
        config = read_config(directory)
        files = _checked_config(directory, config, kind, sections, vocabularies)
        listed = config.get("files")
        if listed is None:  # format 1 or 2, whose files a save changes only after its commit
            tokenizers = {name: load_vocab(directory / file) for name, file in files.items()}
            tensors, _ = read_tensors(directory / WEIGHTS_FILE)
            if read_config(directory) != config:
                continue  # the first save over it has replaced it meanwhile
            return CheckpointFiles(config, tokenizers, tensors, {})
        try:
            contents = _read_listed(directory, listed)
        except _NotAsRecorded:
            if read_config(directory) == config:
                raise
            continue  # a save replaced the checkpoint while it was read: read the new one
        tokenizers = {
            name: _vocabulary(
                contents.pop(file), directory / file, _reader(contents, directory, file)
            )
            for name, file in files.items()
        }
        tensors = _tensors(contents.pop(WEIGHTS_FILE), directory / WEIGHTS_FILE)
        return CheckpointFiles(config, tokenizers, tensors, contents)
    raise ElmanError(
        f"{directory} was replaced by a newer checkpoint {READ_ATTEMPTS} times while it was "
        "being read (a run is saving into it); try again."
    )


def _checked_config(
    directory: Path,
    config: dict[str, Any],
    kind: str,
    sections: tuple[str, ...],
    vocabularies: tuple[str, ...],
) -> dict[str, str]:
    """Check what ``read_checkpoint`` needs of ``config`` (the kind, the sections, the
    vocabulary files and the files' hashes); return the vocabulary files by name."""
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
        isinstance(name, str) and _plain(file) for name, file in files.items()
    ):
        raise ElmanError(
            f"{config_path}: 'vocabularies' is {files!r}, expected names and file names; the "
            "checkpoint is damaged, retrain or restore it."
        )
    listed = config.get("files")
    if listed is None:
        return files
    if (
        not isinstance(listed, dict)
        or not all(_plain(name) and isinstance(sha, str) for name, sha in listed.items())
        or not {WEIGHTS_FILE, *files.values()} <= listed.keys()
    ):
        raise ElmanError(
            f"{config_path}: 'files' is {listed!r}, expected the SHA-256 of {WEIGHTS_FILE} "
            "and every vocabulary file by name; the checkpoint is damaged, retrain or restore it."
        )
    return files


class _NotAsRecorded(ElmanError):
    """A file of a checkpoint is missing or differs from the hash its config.json records."""


def _read_listed(directory: Path, listed: dict[str, str]) -> dict[str, bytes]:
    """The content of each file ``listed`` (name: SHA-256): the staged copy when it has
    the hash (a save committed but not settled), else the file under its name."""
    contents = {}
    for name, sha in listed.items():
        for path in (directory / STAGED / name, directory / name):
            try:
                data = path.read_bytes()
            except (FileNotFoundError, IsADirectoryError):
                continue
            except OSError as e:
                raise ElmanError(
                    f"cannot read {path}: {e.strerror or e}; check its permissions."
                ) from e
            if _sha256(data) == sha:
                contents[name] = data
                break
        else:
            path = directory / name
            if not path.is_file():
                raise _NotAsRecorded(
                    f"{path} is missing; the checkpoint is incomplete, restore it or retrain."
                )
            raise _NotAsRecorded(
                f"{path} is damaged: its content does not match the hash recorded in "
                f"{CONFIG_FILE} when it was written; restore it from a copy or retrain."
            )
    return contents


def _reader(contents: dict[str, bytes], directory: Path, vocab: str) -> FileReader:
    """Reads (and takes out of ``contents``) the files vocabulary file ``vocab`` needs
    beside it, already checked by their hashes."""

    def read(key: str) -> bytes:
        name = extra_file(vocab, key)
        if name not in contents:
            raise ElmanError(
                f"{directory / CONFIG_FILE} records no sha256 for {name}, which {vocab} needs; "
                "the checkpoint is damaged, retrain or restore it."
            )
        return contents.pop(name)

    return read


def _vocabulary(data: bytes, path: Path, read_file: FileReader) -> Tokenizer:
    """The vocabulary a checkpoint's file holds (as ``load_vocab`` reads it)."""
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ElmanError(
            f"{path} is not a valid vocabulary (cannot read it as JSON: {e}); restore it or "
            "train again."
        ) from None
    return tokenizer_from_json(value, str(path), read_file)


def _tensors(data: bytes, path: Path) -> dict[str, np.ndarray]:
    """The tensors of a checkpoint's safetensors file, already checked by its hash."""
    try:
        return safetensors.numpy.load(data)
    except (safetensors.SafetensorError, ValueError) as e:
        raise ElmanError(
            f"{path} is not a readable safetensors file ({e}); the checkpoint is damaged, "
            "retrain or restore it."
        ) from e


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
