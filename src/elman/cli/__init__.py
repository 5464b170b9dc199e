"""The ``elman`` command: it maps flags onto the library's calls and prints the results.

    kind.py       `elman [FAMILY] train` for every kind of model (elman.runs), and eval for
                  a kind without commands of its own here
    lm.py         the language model's eval, generate and score
    classify.py   classify eval | predict
    tag.py        tag eval | predict
    translate.py  translate eval | predict
    recipes.py    recipes, of every kind
    serve.py      serve (the web playground)
    inspect.py    inspect units | gradients | curves (elman.insight)
    export.py     export (ONNX)
    prepare.py    prepare (a corpus tokenised once, read from a memory map)
    flags.py      the parser, flags made from the config dataclasses
    backend.py    --backend and --device: the engine a command runs on

Every kind of model registered (``elman.registry``) has its commands here: a kind
whose registration names a family FAMILY gets ``elman FAMILY train``, the one with no
family the top-level ``elman train``; ``KIND_COMMANDS`` adds elman's own kinds' other
commands, and a kind elman does not know gets ``eval`` from its ``Kind.evaluate``. The
parser is built for the command given only, so that ``elman --help`` lists every command
from the registrations alone, loading no model and no NumPy.

User mistakes raise ``ElmanError``; ``main`` prints its one sentence on stderr and
exits with code 2, without a traceback. Nothing outside this package imports it.
"""

from __future__ import annotations

import argparse
import importlib
import math
import os
import sys

from elman import __version__, registry
from elman.cli.flags import LOADS_MODEL, WRITES_OUTPUT, Parser
from elman.errors import ElmanError, TrainingInterrupted, os_error_fix

# The commands of elman's own kinds besides train, with their help, and the module that
# adds them (its register(parser, command)); only the one given is imported.
KIND_COMMANDS: dict[str, tuple[str, dict[str, str]]] = {
    "language-model": (
        "elman.cli.lm",
        {
            "eval": "perplexity of a model on a text",
            "generate": "sample text from a model",
            "score": "log-probability and perplexity of each line",
        },
    ),
    "classifier": (
        "elman.cli.classify",
        {
            "eval": "accuracy, per-class precision/recall/F1, macro F1, confusion matrix",
            "predict": "the likeliest label of each line",
        },
    ),
    "tagger": (
        "elman.cli.tag",
        {
            "eval": "token accuracy, accuracy on unseen words, per-tag F1",
            "predict": "tag sentences, one per line",
        },
    ),
    "translator": (
        "elman.cli.translate",
        {
            "eval": "perplexity, exact matches and BLEU",
            "predict": "translate sentences, one per line",
        },
    ),
}
# The commands of no kind: help, and the module that adds them (its register(parser)).
TOOLS: dict[str, tuple[str, str]] = {
    "recipes": ("elman.cli.recipes", "list the recipes: settings that reproduce published results"),
    "export": ("elman.cli.export", "write a language model or classifier as ONNX, for onnxruntime"),
    "serve": ("elman.cli.serve", "a web playground over models: generate, score, classify, tag"),
    "inspect": (
        "elman.cli.inspect",
        "look inside a language model: units over text, gradient through time, curves",
    ),
    "prepare": (
        "elman.cli.prepare",
        "tokenise texts once into a corpus that training reads from disk (memory-mapped)",
    ),
}


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    """The parser of every command, with the flags of the one ``argv`` names."""
    words = [word for word in argv if not word.startswith("-")]
    parser = Parser(prog="elman", description="Recurrent-network language models in NumPy.")
    parser.add_argument("--version", action="version", version=f"elman {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    families = registry.families()
    if None in families:
        add_kind_commands(commands, families[None], words[:1])
    for family, registration in families.items():
        if family is None:
            continue
        p = commands.add_parser(family, help=registration.help, description=registration.help)
        subcommands = p.add_subparsers(dest=f"{family}_command", required=True, metavar="COMMAND")
        add_kind_commands(subcommands, registration, words[1:2] if words[:1] == [family] else [])
    for name, (module, help) in TOOLS.items():
        p = commands.add_parser(name, help=help)
        if words[:1] == [name]:
            importlib.import_module(module).register(p)
    return parser


def add_kind_commands(
    commands: argparse._SubParsersAction, registration: registry.Registration, chosen: list[str]
) -> None:
    """A kind's commands: train (``elman.cli.kind``) and its own (``KIND_COMMANDS``), or
    eval (``elman.cli.kind``) for a kind elman has no commands for; ``chosen``: the one
    given, whose flags are added."""
    noun = registration.name.replace("-", " ")
    generic = {"train": f"train a {noun}"}
    if registration.name not in KIND_COMMANDS:
        generic["eval"] = f"the figures of a {noun} on data"
    module, own = KIND_COMMANDS.get(registration.name, ("", {}))
    for name, help in {**generic, **own}.items():
        p = commands.add_parser(name, help=help, description=help)
        if chosen != [name]:
            continue
        if name in generic:
            importlib.import_module("elman.cli.kind").register(p, registration.name, name)
        else:
            importlib.import_module(module).register(p, name)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = argparse.Namespace(writes=WRITES_OUTPUT, memory=LOADS_MODEL)
    try:
        args = build_parser(argv).parse_args(argv)
        for name, value in vars(args).items():  # every float flag, of any command
            if isinstance(value, float) and not math.isfinite(value):
                raise ElmanError(
                    f"--{name.replace('_', '-')} must be a finite number, got {value}."
                )
        args.run(args)
    except ElmanError as e:
        print(f"elman: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader has gone (`elman generate ... | head`): stop quietly, as a Unix tool
        # killed by SIGPIPE would, with its status 128 + 13. Output still buffered for
        # the closed pipe is dropped, so that Python's exit does not fail on it.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except MemoryError as e:
        detail = f" ({e})" if str(e) else ""
        print(f"elman: error: not enough memory{detail}; {args.memory}.", file=sys.stderr)
        return 2
    except OSError as e:
        # Disk full, a read-only directory, missing permissions: what is true of the
        # files is what the command declared (flags.declare).
        where = f" ({e.filename})" if e.filename else ""
        print(
            f"elman: error: {e.strerror or e}{where}; {os_error_fix(e)}; {args.writes}.",
            file=sys.stderr,
        )
        return 2
    except TrainingInterrupted as e:
        print(f"\nelman: {e}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("\nelman: interrupted", file=sys.stderr)
        return 130
    return 0
