"""``elman export``: a trained model in a format other runtimes read (ONNX)."""

from __future__ import annotations

import argparse
from pathlib import Path

from elman.cli.flags import WRITES_FILES, declare
from elman.errors import ElmanError

FORMATS = ("onnx",)


def cmd_export(args: argparse.Namespace) -> None:
    out = Path(args.out)
    try:  # the optional extra, imported only when asked for
        from elman.onnx_export import check_export_paths, export, sidecar_path
    except ImportError as e:
        raise ElmanError(
            f"ONNX export needs the onnx package, which cannot be imported here ({e}); install "
            "it with pip install 'elman[onnx]'."
        ) from e
    check_export_paths(out, args.overwrite)
    description = export(args.model, out, args.overwrite)
    print(
        f"wrote {out} ({description['kind']}: inputs {', '.join(description['inputs'])}; "
        f"outputs {', '.join(description['outputs'])}) and {sidecar_path(out)} (vocabulary "
        "and tokenisation); see docs/backends.md for running it with onnxruntime"
    )


def register(p: argparse.ArgumentParser) -> None:
    """Fill ``elman export``'s parser."""
    p.description = (
        "Write a checkpoint as an ONNX model (OUT.onnx) with its vocabulary and "
        "tokenisation rules beside it (OUT.json), to run without elman: a language model "
        "takes input_ids and h0 (c0) and gives logits and hn (cn), over any number of steps; "
        "a classifier takes input_ids and lengths and gives logits."
    )
    p.add_argument("--model", required=True, metavar="DIR", help="checkpoint directory")
    p.add_argument(
        "--format", choices=FORMATS, default="onnx", help="the format to write (default: onnx)"
    )
    p.add_argument("out", metavar="OUT.onnx", help="the file to write")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace a file already named OUT.json (never a training run's own files)",
    )
    declare(p, cmd_export, WRITES_FILES)
