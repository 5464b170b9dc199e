"""A training run's life, for every kind of model, in one place:

    start(kind, inputs, settings, out)   read the data and fingerprint it, build the
                                         model, rehearse a step, claim the directory,
                                         save the first checkpoint, train, finish
    resume(out, inputs, limits)          read what the run recorded (or texts given in
                                         their place, checked against their
                                         fingerprints), lock the directory, train on
                                         exactly where it stopped, finish

The command line and the Python API are this one path: ``elman train ...`` and
``elman.train(...)`` both start a run here, and either can resume the other's.

What differs between kinds is what a ``Kind`` supplies: the inputs it reads (by role:
"train", "valid", "source", ...), its settings (dataclasses, by the checkpoint section
they are saved in), how it reads and records its data, builds its model, makes its
``training.Task``, finishes (the test figures) and saves and loads its checkpoint.

The run directory (``--out DIR``) is checked before anything is read, claimed only
when the new run has shown that it can train, and locked while a run uses it. The
lock is ``flock`` on the directory itself: the kernel releases it when the process
ends, however it ends (SIGKILL included), so a killed run can be resumed at once, and
no lock file is left behind. A directory that holds any file a run writes is not
taken over without ``--overwrite``, and even then only those files are replaced:
other files in it are never touched.
"""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import hashlib
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from elman import registry
from elman.checkpoint import read_config
from elman.config import TrainConfig
from elman.errors import ElmanError, LimitReached, os_error_fix
from elman.recipes import Recipe
from elman.strict_json import dumps
from elman.training import METRICS_FILE, RESUME_FILE, Alone, Task, Trainer, World, require_an_end

RESUMABLE = ("epochs", "max_steps", "max_minutes")  # the settings --resume may change
# The files of a run, whatever its kind, besides its further vocabularies
# (vocab-NAME.json, and what a tokenizer keeps beside its vocabulary): a directory that
# holds any of them holds a run, and --overwrite replaces them and nothing else.
RUN_FILES = ("config.json", "vocab.json", "model.safetensors", METRICS_FILE, RESUME_FILE)
RUN_PATTERNS = ("vocab-*", ".*.tmp")

# Held-out examples a run records in its checkpoint (``ckpt.data["examples"]``), for the
# playground to offer as inputs to click: lines of a length a person reads at a glance.
EXAMPLES = 3
EXAMPLE_CHARS = (12, 100)

Inputs = Mapping[str, Any]  # role -> a file's path, a value in memory (a kind's own), or None
Settings = dict[str, Any]  # checkpoint section -> that section's config


@dataclass(frozen=True)
class Text:
    """A text given in memory (by the Python API) where a command would read a file."""

    text: str


def text_digest(text: str) -> str:
    """SHA-256 of a text a run reads, recorded so that a resumed run can tell it changed."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def input_record(given: Any, digest: str) -> dict[str, Any]:
    """How a run records one of its inputs: its absolute path (None when it was given in
    memory) and the SHA-256 of its content as the kind reads it."""
    path = None if given is None or isinstance(given, Text) or not _is_path(given) else given
    return {"path": None if path is None else os.path.abspath(path), "sha256": digest}


class Data(Protocol):
    """A run's data as a kind read it."""

    record: dict[str, Any]  # what the checkpoint keeps of it: "inputs" and the kind's own


class Kind(Protocol):
    """A kind of model as its runs see it (``elman.lm.kind.LanguageModelKind``, ...)."""

    name: str  # what its checkpoints call it (its registration's name)
    command: str  # the command that trains it, for messages: "train", "classify train"
    roles: dict[str, str]  # its inputs: role -> what it holds (the help of --ROLE)
    sections: dict[str, type]  # its settings: checkpoint section -> dataclass
    defaults: dict[str, Any]  # the settings it uses over its dataclasses' defaults
    fixed: dict[str, Any]  # settings it always has, offered as no flag (a tagger's level)
    variants: dict[str, dict[str, Any]]  # other defaults and when they apply, for --help
    recipes: dict[str, Recipe]  # named settings by name
    refused: dict[str, str]  # flags of other kinds given here by mistake -> what to say

    def defaults_for(self, inputs: Inputs) -> dict[str, Any]:
        """The defaults a run on ``inputs`` takes: ``defaults``, or one of the
        ``variants`` (the language model's built-in corpus has its own)."""

    def read(self, inputs: Inputs, settings: Settings, resuming: bool = False) -> Data:
        """Read and check the inputs; a new run's ``record`` of them."""

    def build(self, data: Data, settings: Settings) -> Any:
        """A new checkpoint (model, vocabularies, settings) for ``data``; the model is
        NumPy's, initialised from ``settings["train"].seed``."""

    def describe(self, ckpt: Any, data: Data) -> list[str]:
        """What to say of a new run: first a line on its data, vocabulary and parameters,
        then any notes (unknown tokens in the held-out parts, ...)."""

    def task(self, ckpt: Any, data: Data) -> Task:
        """What the training loop trains."""

    def finish(self, ckpt: Any, data: Data, say: Callable[[str], None]) -> dict | None:
        """The best model's test figures (None without a test part), said in a line or two
        (and whatever else the kind shows at the end, such as a sample)."""

    def headline(self, test: dict | None, history: list[dict[str, Any]]) -> str:
        """The figure a recipe is measured by, in a few words."""

    def check_flags(self, given: set[str], inputs: Inputs) -> None:
        """Refuse settings given on the command line that these inputs would ignore."""

    def settings_of(self, ckpt: Any) -> Settings:
        """A checkpoint's settings, by section."""

    def save(self, directory: Path, ckpt: Any) -> None: ...

    def load(self, directory: str | os.PathLike, dtype: Any = np.float32) -> Any: ...


class KindBase:
    """What a ``Kind`` may take as it is: no settings fixed, no other defaults, no
    recipes, no flags to refuse; its settings are its checkpoints' (``ckpt.settings``),
    saved and loaded by its checkpoint module (``checkpoint``: ``save(directory, ckpt)``
    and ``load(directory, dtype)``)."""

    checkpoint: Any  # the kind's checkpoint module
    defaults: dict[str, Any] = {}
    fixed: dict[str, Any] = {}
    variants: dict[str, dict[str, Any]] = {}
    recipes: dict[str, Recipe] = {}
    refused: dict[str, str] = {}

    def defaults_for(self, inputs: Inputs) -> dict[str, Any]:
        return self.defaults

    def check_flags(self, given: set[str], inputs: Inputs) -> None:
        pass

    def settings_of(self, ckpt: Any) -> Settings:
        return ckpt.settings

    def save(self, directory: Path, ckpt: Any) -> None:
        self.checkpoint.save(directory, ckpt)

    def load(self, directory: str | os.PathLike, dtype: Any = np.float32) -> Any:
        return self.checkpoint.load(directory, dtype)


@dataclass
class Engine:
    """What a run computes with: NumPy or PyTorch (``convert`` turns a NumPy model into
    the one trained), in one process or in several started by torchrun (``world``)."""

    backend: str = "numpy"
    world: World = field(default_factory=Alone)
    convert: Callable[[Any], Any] | None = None
    size: int = 1  # processes training together

    @property
    def primary(self) -> bool:
        """Whether this process writes the run's files and speaks for it (rank 0)."""
        return self.world.primary

    def model(self, numpy_model: Any) -> Any:
        return numpy_model if self.convert is None else self.convert(numpy_model)

    def check_batch(self, batch: int) -> None:
        """Refuse a --batch the processes cannot share equally."""
        if batch % self.size:
            raise ElmanError(
                f"--batch {batch} streams cannot be shared equally by {self.size} processes; "
                f"give a --batch that is a multiple of {self.size}, or start another number "
                "of processes."
            )

    def where(self) -> str:
        """Where the model trains, for the line that introduces a run."""
        processes = f" in {self.size} processes" if self.size > 1 else ""
        if self.backend == "numpy":
            return processes
        return f", on torch ({self.world.device}){processes}"

    def close(self) -> None:
        """Leave the process group, if any."""
        close = getattr(self.world, "close", None)
        if close is not None:
            close()


@dataclass
class Run:
    """A finished run (or one that was already as far as asked)."""

    out: Path | None
    kind: Kind
    ckpt: Any  # the best model, with its vocabularies and settings
    history: list[dict[str, Any]]  # one record per epoch (empty: nothing left to do)
    test: dict[str, Any] | None = None  # the best model's test figures
    recipe_line: str | None = None  # what the run's recipe reached, beside the published figure


def examples(
    texts: Sequence[str],
    labels: Sequence[str] | None = None,
    extra: Sequence[dict[str, Any]] | None = None,
    count: int = EXAMPLES,
    shortest: int = EXAMPLE_CHARS[0],
) -> list[dict[str, Any]]:
    """A few held-out texts a run records for the playground (``ckpt.data["examples"]``):
    ``{"text"}`` (with ``"label"`` when ``labels`` gives each text's, and whatever
    ``extra`` adds to each: a translation's target), of ``EXAMPLE_CHARS`` characters (at
    least ``shortest``: a sum to translate is short), without a Penn Treebank ``<unk>`` or
    a control character, spread over the texts (the first, then evenly on), one label
    after another so that each label has one when there are enough. The same texts give
    the same ones."""
    low, high = shortest, EXAMPLE_CHARS[1]
    found: dict[str, list[dict[str, Any]]] = {}
    seen: set[str] = set()
    for i, text in enumerate(texts):
        text = " ".join(text.split())
        printable = text.isprintable()  # no control character (SMS data has U+0092)
        if not low <= len(text) <= high or text in seen or "<unk>" in text or not printable:
            continue
        seen.add(text)
        example: dict[str, Any] = {"text": text}
        if labels is not None:
            example["label"] = labels[i]
        if extra is not None:
            example.update(extra[i])
        found.setdefault(example.get("label", ""), []).append(example)
    groups = [found[label] for label in sorted(found)]
    spread = []
    for group in groups:
        n = min(count, len(group))
        spread.append([group[k * len(group) // n] for k in range(n)])
    chosen: list[dict[str, Any]] = []
    for k in range(count):
        chosen += [group[k] for group in spread if k < len(group)]
    return chosen[:count]


def held_out(parts: Mapping[str, Any]) -> Any:
    """The part a run's examples come from: the validation part, else the test part, else
    the training part (None where there is none)."""
    for role in ("valid", "test", "train"):
        if parts.get(role):
            return parts[role]
    return None


# Starting and resuming ---------------------------------------------------------------


def start(
    kind: Kind,
    inputs: Inputs,
    settings: Settings,
    out: str | os.PathLike | None = None,
    overwrite: bool = False,
    engine: Engine | None = None,
    ckpt: Any = None,
    recipe: Recipe | None = None,
    progress: bool = True,
    catch_signals: bool = False,
) -> Run:
    """Train a new model of ``kind`` on ``inputs`` with ``settings``; with ``out``, the
    run's directory (refused when it holds a run, unless ``overwrite``). ``ckpt``: a
    model built beforehand (the Python API's), else ``kind.build`` makes one. ``recipe``:
    the recipe the settings come from, recorded and reported on at the end."""
    engine = engine or Engine()
    say = _speaker(progress and engine.primary)
    config: TrainConfig = settings["train"]
    require_an_end(config)
    engine.check_batch(config.batch)
    out = None if out is None else Path(out)
    if out is not None and engine.primary:
        check_out_directory(out, overwrite)  # before anything is read
    check_recipe_data(kind, recipe, inputs)
    data = kind.read(inputs, settings)
    if recipe is not None:
        data.record["recipe"] = recipe.name
        say(f"recipe {recipe.name}: {recipe.summary}; published: {recipe.published}")
    if ckpt is None:
        ckpt = kind.build(data, settings)
    first, *notes = kind.describe(ckpt, data)
    say(f"{first}{engine.where()}" + ("" if out is None else f"; checkpoint: {out}"))
    for note in notes:
        say(note)
    ckpt.data = data.record
    ckpt.model = engine.model(ckpt.model)
    trainer = Trainer(
        kind.task(ckpt, data), ckpt.train_config, out, progress, catch_signals=catch_signals,
        world=engine.world,
    )  # fmt: skip
    if overwrite and out is not None and run_files(out):
        # The old run is replaced only by a run that can train: one that cannot take its
        # largest step or validate (too little memory, a sequence too long) fails here.
        trainer.rehearse()
    if out is None:
        return _finish(kind, ckpt, data, trainer.run(), say, None, engine)
    with _claimed(out, overwrite, engine):
        if engine.primary:  # the run's files exist from the start, so that it can resume
            ckpt.info = {"epoch": 0}
            kind.save(out, ckpt)
        return _finish(kind, ckpt, data, trainer.run(), say, out, engine)


def resume(
    out: str | os.PathLike,
    inputs: Inputs | None = None,
    limits: dict[str, Any] | None = None,
    engine: Engine | None = None,
    progress: bool = True,
    catch_signals: bool = False,
    model: Any = None,
) -> Run:
    """Continue the run in ``out`` exactly where it stopped: its settings as saved, but
    for the ``limits`` (epochs, max_steps, max_minutes) raised; its inputs as recorded,
    or as given in ``inputs`` (only for roles it recorded, with the same content).
    ``model``: a model of the run's shape to train (the Python API's), in place of the
    checkpoint's; it takes the saved training state's weights."""
    engine, out = engine or Engine(), Path(out)
    say = _speaker(progress and engine.primary)
    kind = registry.kind(read_config(out).get("kind"))
    ckpt = kind.load(out)
    if model is not None:
        ckpt.model = model
    config = _raised(ckpt.train_config, limits or {})
    engine.check_batch(config.batch)
    data = kind.read(_recorded_inputs(out, kind, ckpt, inputs or {}), kind.settings_of(ckpt),
                     resuming=True)  # fmt: skip
    _check_unchanged(out, ckpt.data["inputs"], data.record["inputs"])
    ckpt.train_config, ckpt.model = config, engine.model(ckpt.model)
    with _locked_for(out, engine):
        say(f"resuming the run in {out}{engine.where()}")
        try:
            trainer = Trainer(kind.task(ckpt, data), config, out, progress, resume=True,
                              catch_signals=catch_signals, world=engine.world)  # fmt: skip
        except LimitReached as e:
            say(str(e))
            return Run(out, kind, ckpt, [])
        return _finish(kind, ckpt, data, trainer.run(), say, out, engine)


def _finish(
    kind: Kind,
    ckpt: Any,
    data: Data,
    history: list,
    say: Callable,
    out: Path | None,
    engine: Engine,
) -> Run:
    """The best model's test figures, in metrics.jsonl too; the recipe's line; the run."""
    test = kind.finish(ckpt, data, say)
    if test is not None and out is not None and engine.primary:
        append_record(out, {"event": "test", **test})
    recipe = kind.recipes.get(ckpt.data.get("recipe", ""))
    line = None if recipe is None else recipe_line(recipe, history, kind.headline(test, history))
    return Run(out, kind, ckpt, history, test, line)


def find_recipe(kind: Kind, name: str) -> Recipe:
    """The recipe called ``name`` of ``kind``, or a clear error listing its recipes (or
    naming the command another kind's recipe belongs to)."""
    if name in kind.recipes:
        return kind.recipes[name]
    ours = ", ".join(kind.recipes)
    for other in registry.registrations().values():
        theirs = registry.kind(other.name)
        if name in theirs.recipes:
            raise ElmanError(
                f"the recipe {name} is for elman {theirs.command}, not elman {kind.command}; run "
                f"elman {theirs.command} --recipe {name}, or choose one of {ours}."
            )
    raise ElmanError(
        f"there is no recipe {name!r}; choose one of {ours} (elman recipes lists them)."
    )


def check_recipe_data(kind: Kind, recipe: Recipe | None, inputs: Inputs) -> None:
    """Refuse a recipe without the data it is measured on (one that trains on the built-in
    corpus needs none)."""
    if recipe is None or recipe.builtin_data or any(v is not None for v in inputs.values()):
        return
    flags = "--data DIR" if "data" in kind.roles else "its input flags"
    raise ElmanError(
        f"the recipe {recipe.name} needs {flags}, with {recipe.data}"
        + (f"; e.g. {recipe.example}." if recipe.example else ".")
    )


def recorded_split(ckpt: Any, data: str, digest: str, count: str) -> dict[str, Any]:
    """The split of its data a run recorded (fractions and seed), refused unless ``data``,
    whose items fingerprint to ``digest``, is the file it split (``count``: how many items
    that held, as the record says it, e.g. "examples")."""
    record = ckpt.data.get("split")
    if not isinstance(record, dict) or "fingerprint" not in record:
        raise ElmanError(
            "the model was not trained on a split --data file; evaluate a file with --split all."
        )
    if record["fingerprint"] != digest:
        raise ElmanError(
            f"{data} is not the data the model was split from ({record.get('file')}, "
            f"{record.get(count)} {count}); give that file, or use --split all."
        )
    return record


def recipe_line(recipe: Recipe, history: list[dict[str, Any]], figure: str) -> str:
    """One line: what the recipe reached (``figure``), in how long, beside the published
    figure."""
    minutes = history[-1]["seconds"] / 60 if history else 0.0
    whole = sum(not r.get("partial") for r in history)
    epochs = f"{whole} epoch" + ("" if whole == 1 else "s")
    if history and history[-1].get("partial"):
        epochs += f" and part of epoch {history[-1]['epoch']}"
    return (
        f"recipe {recipe.name}: {figure} after {minutes:.1f} minutes of training "
        f"({epochs}); published: {recipe.published}"
    )


def _raised(config: TrainConfig, limits: dict[str, Any]) -> TrainConfig:
    unknown = sorted(set(limits) - set(RESUMABLE))
    if unknown:
        raise ElmanError(
            f"--resume continues the run as it was set up, so it takes no "
            f"--{unknown[0].replace('_', '-')}; only --epochs, --max-steps and --max-minutes "
            "may change."
        )
    return dataclasses.replace(config, **limits)


def _recorded_inputs(out: Path, kind: Kind, ckpt: Any, given: Inputs) -> dict[str, Any]:
    """The inputs a resumed run reads: each recorded role's file, or what ``given`` puts in
    its place; a text recorded from memory must be given again."""
    recorded = ckpt.data.get("inputs") if isinstance(ckpt.data, dict) else None
    if not isinstance(recorded, dict):
        raise ElmanError(
            f"{out} records no inputs to resume from (it was written by an earlier elman, "
            "or not by a training run); finish it with the elman that started it, or start a "
            "new run with --out."
        )
    extra = sorted(r for r, value in given.items() if value is not None and r not in recorded)
    if extra:
        raise ElmanError(
            f"--resume continues the run as it was set up, so it takes no --"
            f"{extra[0].replace('_', '-')}; its inputs were "
            f"{', '.join('--' + r.replace('_', '-') for r in recorded) or 'the built-in corpus'}."
        )
    inputs = {}
    for role, entry in recorded.items():
        if given.get(role) is not None:
            inputs[role] = given[role]
        elif entry.get("path") is not None:
            inputs[role] = entry["path"]
        elif entry.get("builtin"):
            continue  # the kind's own corpus, read again
        else:
            flag = role.replace("_", "-")
            raise ElmanError(
                f"the run in {out} read its {role} text from memory (it was started from "
                f"Python), so give that text again: --{flag} FILE, whose text has SHA-256 "
                f"{entry.get('sha256')}."
            )
    return inputs


def _check_unchanged(out: Path, recorded: dict[str, Any], now: dict[str, Any]) -> None:
    for role, entry in recorded.items():
        if now.get(role, {}).get("sha256") != entry.get("sha256"):
            where = now.get(role, {}).get("path") or entry.get("path") or "the text given"
            raise ElmanError(
                f"the {role} input ({where}) changed since the run in {out} started; restore "
                "it, or start a new run with --out."
            )


def append_record(out: Path, record: dict[str, Any]) -> None:
    """One JSON line in ``out/metrics.jsonl`` (the final test's, once training is done)."""
    try:
        with open(out / METRICS_FILE, "a", encoding="utf-8") as f:
            f.write(dumps(record) + "\n")
    except OSError as e:
        raise ElmanError(
            f"cannot add the {record.get('event', '')} record to {out / METRICS_FILE}: "
            f"{e.strerror or e}; the trained model is saved in {out}, so {os_error_fix(e)} "
            "and evaluate it again with its eval command."
        ) from e


def _speaker(enabled: bool) -> Callable[[str], None]:
    return print if enabled else (lambda line: None)


# The run directory -----------------------------------------------------------------------


def default_out() -> Path:
    """runs/DATE-TIME, for a run started without --out."""
    return Path("runs") / time.strftime("%Y%m%d-%H%M%S")


def run_files(out: Path) -> list[Path]:
    """The files of a run in ``out`` (of any kind, whole or not), and nothing else."""
    if not out.is_dir():
        return []
    found = [out / name for name in RUN_FILES if (out / name).exists()]
    for pattern in RUN_PATTERNS:
        found += sorted(p for p in out.glob(pattern) if p.is_file())
    return found


def check_out_directory(out: Path, overwrite: bool) -> None:
    """Refuse an ``out`` that holds a run (or any file of one), unless ``overwrite``;
    writes nothing."""
    if out.exists() and not out.is_dir():
        raise ElmanError(f"--out {out} is a file, not a directory; choose another --out.")
    found = run_files(out)
    if overwrite or not found:
        return
    if (out / "config.json").exists() and (out / RESUME_FILE).exists():
        raise ElmanError(
            f"{out} already holds a training run; choose another --out, continue it with "
            f"--resume {out}, or pass --overwrite to replace it."
        )
    names = ", ".join(p.name for p in found[:3])
    raise ElmanError(
        f"{out} holds files of an elman run ({names}) but no run to resume; choose another "
        "--out, or pass --overwrite to replace them (other files there are kept)."
    )


@contextmanager
def _claimed(out: Path, overwrite: bool, engine: Engine) -> Iterator[None]:
    """``out`` held for a new run by the process that writes it: created, locked, checked
    again under the lock, and with ``overwrite`` the old run's training state and
    metrics removed (its checkpoint stays whole until the new one replaces it)."""
    if not engine.primary:
        yield
        return
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ElmanError(
            f"cannot create --out {out}: {e.strerror or e}; choose a directory you can write to."
        ) from e
    with locked(out):
        check_out_directory(out, overwrite)  # another run may have started
        if overwrite:
            for name in (RESUME_FILE, METRICS_FILE):
                (out / name).unlink(missing_ok=True)
        yield


@contextmanager
def _locked_for(out: Path, engine: Engine) -> Iterator[None]:
    if engine.primary:
        with locked(out):
            yield
    else:
        yield


@contextmanager
def locked(directory: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``directory`` for the duration, or refuse at once when
    another process holds it."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            raise ElmanError(
                f"another elman process is training in {directory} right now; wait for it to "
                "finish, or choose another --out."
            ) from None
        yield
    finally:
        os.close(fd)  # releases the lock


def _is_path(value: Any) -> bool:
    return isinstance(value, (str, os.PathLike))
