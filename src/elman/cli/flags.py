"""Flags made from the config dataclasses, and the settings a command line gives: one
flag per field, named and explained by the field itself, with the default the command
really uses. Flags default to None, so that what the user typed can be told apart from
the defaults it overrides."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any, NoReturn

from elman.errors import ElmanError

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


def flag(name: str) -> str:
    """The flag of a field or an input role: ``max_vocab`` -> ``--max-vocab``."""
    return "--" + name.replace("_", "-")


def add_config_flags(
    parser: argparse.ArgumentParser,
    cls: type,
    defaults: dict[str, Any] | None = None,
    variants: dict[str, dict[str, Any]] | None = None,
    exclude: tuple[str, ...] = (),
) -> None:
    """One flag per field of the dataclass ``cls`` (but ``exclude``), with the command's
    own default (``defaults``, field name -> value, over the field's) and any other
    default it takes in some case (``variants``: when -> defaults)."""
    defaults, variants = defaults or {}, variants or {}
    group = parser.add_argument_group(f"{cls.__name__} settings")
    for f in dataclasses.fields(cls):
        if not f.metadata.get("cli", True) or f.name in exclude:
            continue
        shown = [_shown(defaults.get(f.name, f.default))]
        for when, values in variants.items():
            if f.name in values and values[f.name] != defaults.get(f.name, f.default):
                shown.append(f"{_shown(values[f.name])} {when}")
        default = f"(default: {'; '.join(shown)})"
        if isinstance(f.default, bool):  # --tie / --no-tie
            group.add_argument(
                flag(f.name),
                dest=f.name,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=f"{f.metadata['help']} {default}",
            )
            continue
        group.add_argument(
            flag(f.name),
            dest=f.name,
            type=type(f.default),
            choices=f.metadata.get("choices"),
            default=None,
            metavar=None if "choices" in f.metadata else type(f.default).__name__.upper(),
            help=f"{f.metadata['help']} {default}",
        )


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return "empty" if value == "" else str(value)


def config_from_flags(cls: type, args: argparse.Namespace, base: dict[str, Any] | None = None):
    """``cls`` built from the values of ``base`` that are its fields, overridden by the
    flags the user gave."""
    names = {f.name for f in dataclasses.fields(cls)}
    values = {key: value for key, value in (base or {}).items() if key in names}
    for f in flag_fields(cls):
        given = getattr(args, f.name, None)
        if given is not None:
            values[f.name] = given
    return cls(**values)


def flag_fields(cls: type) -> list[dataclasses.Field]:
    """The fields of ``cls`` a flag can set (not those made elsewhere: ModelConfig's
    vocab_size comes from the vocabulary, whatever the tokenizer's --vocab-size says)."""
    return [f for f in dataclasses.fields(cls) if f.metadata.get("cli", True)]


def batch_of(args: argparse.Namespace, ckpt: Any) -> int:
    """--batch, or the evaluation batch the checkpoint was trained with."""
    batch = ckpt.train_config.eval_batch if args.batch is None else args.batch
    if batch < 1:
        raise ElmanError(f"--batch must be a positive integer, got {batch}.")
    return batch


def given_settings(args: argparse.Namespace, classes: list[type]) -> list[str]:
    """The fields of ``classes`` whose flags the user gave."""
    return [
        f.name
        for cls in classes
        for f in flag_fields(cls)
        if getattr(args, f.name, None) is not None
    ]


def defaults_text(values: dict[str, Any]) -> str:
    """Settings as the flags that give them: ``--hidden 512 --tie``."""
    return " ".join(
        flag(name) if value is True else f"{flag(name)} {value}" for name, value in values.items()
    )


def is_blank(line: str) -> bool:
    """Blank input lines are answered with blank output lines, by every command that
    reads lines (score, classify predict, tag predict)."""
    return not line.strip()
