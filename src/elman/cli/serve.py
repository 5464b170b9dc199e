"""``elman serve``: the playground, a local web app over the models given."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

from elman.cli.flags import WRITES_OUTPUT, declare
from elman.errors import ElmanError
from elman.kinds import load

SERVE_PACKAGES = ("starlette", "uvicorn")


def cmd_serve(args: argparse.Namespace) -> None:
    missing = [name for name in SERVE_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise ElmanError(
            f"elman serve needs {' and '.join(missing)}; install them with "
            "pip install 'elman[serve]'."
        )
    from elman.serve.app import Served, create_app, listen, run  # the extra, looked for above

    names = model_names(args.model)
    sock = listen(args.host, args.port)  # before the models load: a port in use fails fast
    try:
        served = [Served(name, load(directory)) for name, directory in names]
        app = create_app(served)
        listed = ", ".join(f"{s.name} ({s.kind})" for s in served)
        print(f"serving {listed} on http://{args.host}:{args.port}/ (Ctrl-C stops)", flush=True)
        run(app, sock)
    finally:
        sock.close()


def model_names(given: list[str]) -> list[tuple[str, Path]]:
    """(name, directory) of each --model NAME=DIR or DIR (named after the directory),
    refusing two models of one name."""
    named: dict[str, Path] = {}
    for spec in given:
        name, sep, directory = spec.partition("=")
        path = Path(directory if sep else spec)
        name = name if sep else path.resolve().name
        if not name:
            raise ElmanError(f"--model {spec} has an empty name; write NAME=DIR or DIR.")
        if name in named:
            raise ElmanError(
                f"two models are named {name!r} ({named[name]} and {path}); name them apart "
                "with --model NAME=DIR."
            )
        named[name] = path
    return list(named.items())


def register(p: argparse.ArgumentParser) -> None:
    """Fill ``elman serve``'s parser."""
    p.description = (
        "Serve a local web page and a JSON API over the models given (see "
        "docs/serve.md). Every model is loaded at start; the page is at http://HOST:PORT/."
    )
    p.add_argument(
        "--model",
        action="append",
        required=True,
        metavar="[NAME=]DIR",
        help="a checkpoint directory of any kind, named NAME (default: the directory's name); "
        "give --model once per model",
    )
    p.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    p.add_argument(
        "--port", type=int, default=8000, help="port to listen on (default: %(default)s)"
    )
    declare(p, cmd_serve, WRITES_OUTPUT)
