"""The ``elman`` command, one module per command family:

    lm.py        train, recipes, eval, generate, score (the language model)
    classify.py  classify train | eval | predict
    tag.py       tag train | eval | predict
    translate.py translate train | eval | predict
    serve.py     serve (the web playground)
    inspect.py   inspect units | gradients | curves (elman.insight)
    export.py    export (ONNX)
    backend.py   --backend and --device, and the processes of a data-parallel run
    common.py    what they share: flags from the config dataclasses, --out, the run

User mistakes raise ``ElmanError``; ``main`` prints its one sentence on stderr and
exits with code 2, without a traceback. Nothing outside this package imports it.
"""

from __future__ import annotations

import argparse
import os
import sys

from elman import __version__
from elman.blas import check_threads
from elman.cli import classify, common, export, inspect, lm, serve, tag, translate
from elman.cli.common import Parser
from elman.config import require_finite
from elman.errors import ElmanError, os_error_fix
from elman.training import TrainingInterrupted


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="elman", description="Recurrent-network language models in NumPy.")
    parser.add_argument("--version", action="version", version=f"elman {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for family in (lm, classify, tag, translate, export, serve, inspect):
        family.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = argparse.Namespace(writes=common.WRITES_OUTPUT, memory=common.LOADS_MODEL)
    try:
        args = build_parser().parse_args(argv)
        for name, value in vars(args).items():  # every float flag, of any command
            require_finite(name, value)
        if getattr(args, "threads", None):  # a training command's
            check_threads(args.threads)
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
        # files is what the command declared (common.declare).
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
