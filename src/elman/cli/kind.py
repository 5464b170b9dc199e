"""The commands every kind of model has: ``elman [FAMILY] train``, its inputs' flags (the
kind's roles), its settings' flags (the kind's dataclasses), --recipe, --out,
--overwrite, --resume, --backend and --plot, mapped onto ``elman.runs.start`` and
``runs.resume``; and for a kind without commands of its own in elman (one another
package registers), ``elman FAMILY eval``, its ``Kind.evaluate`` figures."""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path
from typing import Any

from elman import registry, runs
from elman.blas import check_threads
from elman.cli.backend import add_backend_flags, engine_from_flags
from elman.cli.flags import (
    WRITES_FILES,
    WRITES_OUTPUT,
    add_config_flags,
    config_from_flags,
    declare,
    flag,
    given_settings,
)
from elman.errors import ElmanError
from elman.insight import plots
from elman.insight.curves import read_metrics
from elman.kinds import load
from elman.strict_json import dumps

NEXT = {  # what to try with a trained model, by its command family
    None: "elman generate --model {out} --prompt ...",
    "classify": "elman classify eval --model {out} --data FILE",
    "tag": "elman tag eval --model {out} --data FILE",
    "translate": "elman translate predict --model {out} FILE",
}


def register(parser: argparse.ArgumentParser, name: str, command: str = "train") -> None:
    """Fill ``parser`` with ``command`` (train, or eval) of the kind ``name``."""
    if command == "eval":
        add_eval(parser, name)
        return
    kind, family = registry.kind(name), registry.named(name).family
    for role, help in kind.roles.items():
        parser.add_argument(flag(role), dest=role, metavar="PATH", help=help)
    if kind.recipes:
        parser.add_argument(
            "--recipe",
            metavar="NAME",
            help=f"start from a recipe's settings ({', '.join(kind.recipes)}; see elman "
            "recipes); flags given override them",
        )
    parser.add_argument(
        "--out", metavar="DIR", help="checkpoint directory (default: runs/DATE-TIME)"
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the run already in --out, if any (its other files are kept); the old "
        "run is replaced only once the new one has taken a step",
    )
    parser.add_argument(
        "--resume",
        metavar="DIR",
        help=f"continue the interrupted run in DIR exactly where it stopped (elman "
        f"{kind.command} --resume DIR; --epochs, --max-steps and --max-minutes may be raised; "
        "input flags give texts the run read from memory)",
    )
    add_backend_flags(parser, training=True)
    parser.add_argument(
        "--plot",
        metavar="FILE.png",
        help="at the end, draw the training curves into FILE.png (needs matplotlib: pip "
        "install 'elman[plot]'; also with --resume)",
    )
    exclude = tuple(kind.fixed)
    for cls in kind.sections.values():
        add_config_flags(parser, cls, kind.defaults, kind.variants, exclude)
    for setting, sentence in kind.refused.items():  # another kind's flag, in its own words
        parser.add_argument(flag(setting), nargs=0, action=Refuse, help=argparse.SUPPRESS,
                            sentence=sentence)  # fmt: skip
    declare(parser, partial(cmd_train, name, family), WRITES_FILES,
            "choose smaller sizes (--hidden, --embed, --layers, --batch)")  # fmt: skip


class Refuse(argparse.Action):
    """A flag a command refuses with a sentence of its own (``Kind.refused``)."""

    def __init__(self, *args: Any, sentence: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sentence = sentence

    def __call__(self, parser: Any, namespace: Any, values: Any, option: Any = None) -> None:
        raise ElmanError(self.sentence)


def cmd_train(name: str, family: str | None, args: argparse.Namespace) -> None:
    kind = registry.kind(name)
    inputs = {role: getattr(args, role) for role in kind.roles}
    if args.threads:
        check_threads(args.threads)
    if args.plot is not None:
        plots.check_plot(args.plot)  # before training, not after it
    engine = engine_from_flags(args, parallel=True)
    try:
        if args.resume is not None:
            run = runs.resume(args.resume, inputs, resumed_limits(args, kind), engine,
                              catch_signals=True)  # fmt: skip
        else:
            recipe = runs.find_recipe(kind, args.recipe) if getattr(args, "recipe", None) else None
            runs.check_recipe_data(kind, recipe, inputs)  # before the settings it brings
            kind.check_flags(set(given_settings(args, list(kind.sections.values()))), inputs)
            base = {**kind.defaults_for(inputs), **(recipe.settings if recipe else {})}
            settings = settings_from_flags(args, kind, base)
            out = out_directory(args, engine)
            run = runs.start(kind, inputs, settings, out, args.overwrite, engine, recipe=recipe,
                             catch_signals=True)  # fmt: skip
    finally:
        engine.close()
    if not engine.primary:
        return
    if run.history:
        try_next = NEXT.get(family, "elman ... --model {out}").format(out=run.out)
        print(f"\nsaved to {run.out}; try: {try_next}")
    if run.recipe_line is not None:
        print(run.recipe_line)
    if args.plot is not None:
        plots.plot_curves(read_metrics(run.out), args.plot, title=str(run.out))
        print(f"training curves: {args.plot}")


def settings_from_flags(args: argparse.Namespace, kind: Any, base: dict[str, Any]) -> runs.Settings:
    """Each of the kind's settings, from ``base`` (its defaults, a recipe's) and the flags."""
    base = {**base, **kind.fixed}
    return {section: config_from_flags(cls, args, base) for section, cls in kind.sections.items()}


def resumed_limits(args: argparse.Namespace, kind: Any) -> dict[str, Any]:
    """The settings given with --resume, which ``runs.resume`` refuses but for the limits it
    may raise; --overwrite, --recipe and --out belong to a new run."""
    for name in ("overwrite", "recipe", "out"):
        if getattr(args, name, None):
            raise ElmanError(
                f"--resume continues the run in {args.resume} as it was set up, so it takes no "
                f"{flag(name)}; start a new run with --out instead."
            )
    return {
        name: getattr(args, name) for name in given_settings(args, list(kind.sections.values()))
    }


def out_directory(args: argparse.Namespace, engine: runs.Engine) -> Path:
    """--out, or runs/DATE-TIME; a data-parallel run needs a directory every process
    reads, so it must be named."""
    if args.out:
        return Path(args.out)
    if engine.size > 1:
        raise ElmanError(
            "a data-parallel run needs --out, a directory every process can read (to resume or "
            "roll back); give one."
        )
    return runs.default_out()


def add_eval(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("--model", required=True, metavar="DIR", help="checkpoint directory")
    parser.add_argument("--data", required=True, metavar="PATH", help="data to evaluate on")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    declare(parser, partial(cmd_eval, name), WRITES_OUTPUT)


def cmd_eval(name: str, args: argparse.Namespace) -> None:
    kind = registry.kind(name)
    if not hasattr(kind, "evaluate"):
        raise ElmanError(f"a {name} has no evaluation here; see its package's documentation.")
    ckpt = load(args.model)
    if ckpt.kind != name:
        raise ElmanError(f"{args.model} holds a {ckpt.kind} checkpoint, not a {name}.")
    figures = kind.evaluate(ckpt, args.data)
    if args.json:
        print(dumps(figures))
        return
    for key, value in figures.items():
        print(f"{key:<14} {value:.6g}" if isinstance(value, float) else f"{key:<14} {value}")
