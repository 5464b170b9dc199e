"""What every command family shares: flags made from the config dataclasses, the --out
directory, running the training loop, and reading and answering lines."""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

from elman import rundir
from elman.config import ModelConfig, SplitConfig, TrainConfig
from elman.data.labeled import Example, fingerprint, read_labeled, stratified_split
from elman.errors import ElmanError, os_error_fix
from elman.strict_json import dumps
from elman.training import METRICS_FILE, LimitReached, Task, Trainer, World

RESUME_OVERRIDES = ("epochs", "max_steps", "max_minutes")  # what --resume lets change

# What each command declares (``declare``) for the messages of ``elman.cli.main`` when the
# system refuses it something: what is true of the files it writes when a write fails
# (a full disk, a read-only directory, no permission), and what to lower when memory runs
# out. A training run's own writes say more (``training.Trainer``: whether it can resume).
WRITES_OUTPUT = "this command writes nothing but its output"
WRITES_FILES = (
    "each file is written under a temporary name and renamed only once whole, so any file "
    "it was to replace is as it was"
)
LOADS_MODEL = "the model needs more memory than is free; close other programs or use a smaller one"


def declare(
    parser: argparse.ArgumentParser, run: Any, writes: str, memory: str = LOADS_MODEL
) -> None:
    """``run`` runs ``parser``'s command; ``writes`` (``WRITES_OUTPUT``, ``WRITES_FILES``)
    and ``memory`` (what to lower, e.g. "choose a smaller --batch") are what ``main`` says
    when a write or memory fails."""
    parser.set_defaults(run=run, writes=writes, memory=memory)


class Parser(argparse.ArgumentParser):
    """argparse, refusing a command line as elman refuses any input: with one sentence
    (an ``ElmanError``) naming the problem and the command whose --help says more, exit
    code 2."""

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
        parsed, extra = super().parse_known_args(args, namespace)
        if not hasattr(parsed, "command_prog"):  # the innermost command parses first
            parsed.command_prog = self.prog
        return parsed, extra

    def parse_args(self, args=None, namespace=None):  # type: ignore[override]
        parsed, extra = self.parse_known_args(args, namespace)
        if extra:
            self.prog = parsed.command_prog
            self.error(f"unrecognized arguments: {' '.join(extra)}")
        return parsed

    def error(self, message: str) -> NoReturn:
        raise ElmanError(f"{message}; see {self.prog} --help.")


def add_config_flags(parser: argparse.ArgumentParser, cls: type, command: str) -> None:
    """One flag per dataclass field that ``command`` ("lm", "classify", "tag", ...) uses,
    named and explained by the field itself; a field whose metadata lists ``kinds``
    is offered to those commands only.

    Flags default to None so that what the user typed can be told apart from
    the defaults it overrides."""
    group = parser.add_argument_group(f"{cls.__name__} settings")
    for f in dataclasses.fields(cls):
        if not f.metadata.get("cli", True) or command not in f.metadata.get("kinds", (command,)):
            continue
        if isinstance(f.default, bool):  # --tie / --no-tie
            group.add_argument(
                f"--{f.name.replace('_', '-')}",
                dest=f.name,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=f"{f.metadata['help']} (default: {'on' if f.default else 'off'})",
            )
            continue
        group.add_argument(
            f"--{f.name.replace('_', '-')}",
            dest=f.name,
            type=type(f.default),
            choices=f.metadata.get("choices"),
            default=None,
            metavar=None if "choices" in f.metadata else type(f.default).__name__.upper(),
            help=f"{f.metadata['help']} (default: {f.default if f.default != '' else 'empty'})",
        )


def config_from_flags(cls: type, args: argparse.Namespace, base: dict[str, Any] | None = None):
    """``cls`` built from ``base`` values overridden by the flags the user gave."""
    values = dict(base or {})
    for f in dataclasses.fields(cls):
        given = getattr(args, f.name, None)
        if given is not None:
            values[f.name] = given
    return cls(**values)


def defaults_text(*groups: dict[str, Any]) -> str:
    """Per-command defaults as flags, for a command's description."""
    flags = []
    for group in groups:
        for name, value in group.items():
            flag = f"--{name.replace('_', '-')}"
            flags.append(flag if value is True else f"{flag} {value}")
    return " ".join(flags)


def add_family(
    subparsers: argparse._SubParsersAction, name: str, help: str, description: str
) -> argparse._SubParsersAction:
    """A command family, ``elman NAME COMMAND ...``: its parser; returns its subcommands."""
    parser = subparsers.add_parser(name, help=help, description=description)
    return parser.add_subparsers(dest=f"{name}_command", required=True, metavar="COMMAND")


def add_training_flags(
    parser: argparse.ArgumentParser, command: str, kind: str, configs: tuple[type, ...]
) -> None:
    """A training command's --out, --overwrite and --resume, and one flag per field of
    ``configs`` that ``kind`` uses."""
    add_run_flags(parser, command)
    for cls in configs:
        add_config_flags(parser, cls, kind)


def add_run_flags(parser: argparse.ArgumentParser, command: str) -> None:
    """--out, --overwrite and --resume, as every training command has them."""
    parser.add_argument(
        "--out", metavar="DIR", help="checkpoint directory (default: runs/DATE-TIME)"
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace the run already in --out, if any"
    )
    parser.add_argument(
        "--resume",
        metavar="DIR",
        help=f"continue the interrupted run in DIR exactly where it stopped (elman {command} "
        "--resume DIR; --epochs, --max-steps and --max-minutes may be raised)",
    )


def out_directory(args: argparse.Namespace) -> Path:
    """The --out directory (default runs/DATE-TIME), refusing one that already holds a
    run unless --overwrite. Nothing is created or removed here: that waits for
    ``rundir.claim_run_directory``, once every input has been checked."""
    out = Path(args.out) if args.out else rundir.default_out()
    rundir.check_out_directory(out, args.overwrite)
    return out


def resumed_train_config(
    args: argparse.Namespace,
    saved: TrainConfig,
    inputs: tuple[str, ...],
    configs: tuple[type, ...] = (),
) -> TrainConfig:
    """The training settings of a resumed run: as saved, but for the limits the user
    raised. Any other setting (of ModelConfig, TrainConfig or the kind's ``configs``) or
    input given with --resume is refused."""
    fixed = [
        f.name
        for cls in (ModelConfig, TrainConfig, *configs)
        for f in dataclasses.fields(cls)
        if getattr(args, f.name, None) is not None and f.name not in RESUME_OVERRIDES
    ]
    given = [name for name in (*inputs, "out") if getattr(args, name, None)] + fixed
    if given:
        raise ElmanError(
            f"--resume continues the run as it was set up, so it takes no --"
            f"{given[0].replace('_', '-')}; only --epochs, --max-steps and --max-minutes may "
            "change."
        )
    limits = {
        name: getattr(args, name) for name in RESUME_OVERRIDES if getattr(args, name) is not None
    }
    return dataclasses.replace(saved, **limits)


@contextmanager
def training_run(out: Path, resume: bool, overwrite: bool = False) -> Iterator[None]:
    """The --out directory held for a run: claimed (created, locked, an old run removed
    with --overwrite) for a new one, locked for a resumed one."""
    if resume:
        with rundir.locked(out):
            yield
    else:
        with rundir.claim_run_directory(out, overwrite):
            yield


def train_task(
    task: Task, config: TrainConfig, out: Path, resume: bool, world: World | None = None
) -> list[dict] | None:
    """Run the training loop on ``task`` (in this process of ``world``, if it trains with
    others); None when a resumed run was already as far as asked (said on stdout: that
    is not an error)."""
    try:
        trainer = Trainer(task, config, out, resume=resume, catch_signals=True, world=world)
        return trainer.run()
    except LimitReached as e:
        print(e)
        return None


def labelled_parts(
    files: dict[str, str | None], config: SplitConfig
) -> tuple[list[Example], list[Example], list[Example], dict[str, Any]]:
    """The training, validation and test examples of labelled files (``files``: "data",
    "valid" and "test" paths, the last two None when not given), and the record of them a
    checkpoint keeps (for ``eval --split`` and ``--resume``): --data, split as ``config``
    says into whichever parts --valid and --test do not give."""
    examples = read_labeled(files["data"])
    valid_given = read_labeled(files["valid"]) if files["valid"] is not None else None
    test_given = read_labeled(files["test"]) if files["test"] is not None else None
    valid_fraction = 0.0 if valid_given is not None else config.valid_fraction
    test_fraction = 0.0 if test_given is not None else config.test_fraction
    split = stratified_split(
        [e.label for e in examples], valid_fraction, test_fraction, config.split_seed
    )
    train, valid, test = ([examples[i] for i in part] for part in split)
    record = {
        "split": {
            "file": os.path.abspath(files["data"]),
            "examples": len(examples),
            "fingerprint": fingerprint(examples),
            "valid_fraction": valid_fraction,
            "test_fraction": test_fraction,
            "seed": config.split_seed,
        },
        "files": {role: None if f is None else os.path.abspath(f) for role, f in files.items()},
        "fingerprints": {
            role: fingerprint(given)
            for role, given in (("valid", valid_given), ("test", test_given))
            if given is not None
        },
    }
    return train, valid_given or valid, test_given or test, record


def append_metrics(out: Path, record: dict[str, Any]) -> None:
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


def digest(text: str | None) -> str | None:
    """SHA-256 of a text a run trains on, recorded so that --resume can tell it changed."""
    return None if text is None else hashlib.sha256(text.encode("utf-8")).hexdigest()


def abspath(path: str | None) -> str | None:
    return None if path is None else str(Path(path).resolve())


def same_file(a: str, b: str) -> bool:
    """Whether two paths name one file, or two files with the same bytes (False when
    either cannot be read: reading it later says why)."""
    try:
        return os.path.samefile(a, b) or Path(a).read_bytes() == Path(b).read_bytes()
    except OSError:
        return False


def is_blank(line: str) -> bool:
    """Blank input lines are answered with blank output lines, by every command that
    reads lines (score, classify predict, tag predict)."""
    return not line.strip()
