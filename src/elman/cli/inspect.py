"""``elman inspect units | gradients | curves``: look inside a language model and at how
its training went (``elman.insight``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from elman import insight
from elman.checkpoint import check_output_directory
from elman.cli.flags import WRITES_FILES, declare
from elman.data.text import read_text
from elman.insight import plots
from elman.insight.gradients import POSITIONS, STEPS, compare, table
from elman.insight.report import INDEX, UNITS
from elman.insight.units import MAX_TOKENS, language_model, user_features
from elman.strict_json import dumps


def cmd_units(args: argparse.Namespace) -> None:
    check_output_directory(args.out, "--out")  # before any work, not after it
    ckpt = language_model(args.model)
    text = read_text(args.text)
    user = user_features(ckpt.tokenizer, text, args.feature or [])
    summary = insight.units_report(
        ckpt.model,
        ckpt.tokenizer,
        text,
        args.out,
        user,
        args.max_tokens,
        title=f"elman inspect units: {args.model} on {args.text}",
    )
    if summary["note"]:
        print(f"note: {summary['note']}", file=sys.stderr)
    for name, scores in summary["features"].items():
        best = scores[0]
        print(
            f"{name:<14} layer {best['layer']} {best['state']} unit {best['unit']:<4} "
            f"|r| = {best['score']:.3f} (r = {best['correlation']:+.3f})"
        )
    for name in summary["constant_features"]:
        print(f"{name:<14} constant over this text: nothing to rank")
    out = Path(args.out)
    print(f"report: {out / INDEX} (open it in a browser); figures: {out / UNITS}")


def cmd_gradients(args: argparse.Namespace) -> None:
    if args.plot is not None:
        plots.check_plot(args.plot)
    models = [(d, language_model(d)) for d in args.model]
    results, notes = compare(models, read_text(args.text), args.steps, args.positions,
                             args.warmup, args.scale_recurrent, args.max_tokens)  # fmt: skip
    for note in notes:
        print(note, file=sys.stderr)
    if args.json:
        print(dumps({"models": [{"model": d, **r.as_dict()} for d, r in results]}))
    else:
        print("\n".join(table(results)))
    if args.plot is not None:
        plots.plot_gradients(results, args.plot)
        print(f"plot: {args.plot}", file=sys.stderr if args.json else sys.stdout)


def cmd_curves(args: argparse.Namespace) -> None:
    plots.check_plot(args.plot)
    curves = insight.read_metrics(args.run_dir)
    insight.plot_curves(curves, args.plot, title=str(args.run_dir))
    print(f"plot: {args.plot}")


def register(parser: argparse.ArgumentParser) -> None:
    """Fill ``elman inspect``'s parser with its units, gradients and curves commands."""
    parser.description = "Look inside a trained language model and at how its training went."
    commands = parser.add_subparsers(dest="inspect_command", required=True, metavar="COMMAND")
    add_units(commands)
    add_gradients(commands)
    add_curves(commands)


def add_units(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "units",
        help="every hidden unit over a text, as a self-contained HTML report",
        description="Run a model over a text and write REPORT_DIR/index.html (the text "
        "coloured by any unit, blue negative and red positive, with the model's top-5 "
        "guesses; opens from disk, no network) and REPORT_DIR/units.json (every unit "
        "ranked by |Pearson r| with each feature of the text, and gate saturation).",
    )
    p.add_argument("--model", required=True, metavar="DIR", help="language model checkpoint")
    p.add_argument("--text", required=True, metavar="FILE", help="text to run it over (UTF-8)")
    p.add_argument("--out", required=True, metavar="REPORT_DIR", help="where to write the report")
    p.add_argument(
        "--feature",
        action="append",
        metavar="NAME=FILE",
        help="a feature of your own: FILE holds one number per token of --text, "
        "whitespace-separated, in token order (may be repeated)",
    )
    p.add_argument(
        "--max-tokens",
        type=int,
        default=MAX_TOKENS,
        metavar="N",
        help=f"look at the text's first N tokens at most (default: {MAX_TOKENS:,}); a large "
        "model may be cut to fewer, so that the page stays quick to open",
    )
    declare(p, cmd_units, WRITES_FILES, "choose a smaller --max-tokens")


def add_gradients(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "gradients",
        help="||dL_T / dh_(T-k)|| for k = 0..steps: how far back the gradient reaches",
        description="The norm of the gradient of the loss at one step with respect to each "
        "layer's hidden state k steps earlier (and an LSTM's cell), from the model's own "
        "backward pass, averaged over positions of the text. Several --model are compared "
        "side by side.",
    )
    p.add_argument(
        "--model", required=True, action="append", metavar="DIR", help="checkpoint (repeatable)"
    )
    p.add_argument("--text", required=True, metavar="FILE", help="text to measure on (UTF-8)")
    p.add_argument(
        "--steps", type=int, default=STEPS, metavar="N", help=f"k up to N (default: {STEPS})"
    )
    p.add_argument(
        "--positions",
        type=int,
        default=POSITIONS,
        metavar="N",
        help=f"average over N positions spread over the text (default: {POSITIONS})",
    )
    p.add_argument(
        "--scale-recurrent",
        type=float,
        metavar="S",
        help="multiply every W_h by S first (S < 1: vanishing, S > 1: exploding)",
    )
    p.add_argument(
        "--warmup",
        type=int,
        metavar="N",
        help="start each window from the state after reading only the N tokens before it "
        "(0: a zero state) instead of all the text before it; for a state that --scale-"
        "recurrent makes blow up",
    )
    p.add_argument(
        "--max-tokens",
        type=int,
        default=MAX_TOKENS,
        metavar="N",
        help=f"use the text's first N tokens at most (default: {MAX_TOKENS:,})",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--plot", metavar="FILE.png", help="draw the norms on a log scale (PNG)")
    declare(p, cmd_gradients, WRITES_FILES, "choose a smaller --max-tokens or --positions")


def add_curves(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "curves",
        help="training curves of a run (any kind of model), as a PNG",
        description="Draw a run's metrics.jsonl: loss and perplexity (or validation "
        "figures) per step and per epoch, learning rate, gradient norm and speed.",
    )
    p.add_argument(
        "--run", dest="run_dir", required=True, metavar="DIR", help="the run's directory (--out)"
    )
    p.add_argument("--plot", required=True, metavar="FILE.png", help="where to draw (PNG)")
    declare(p, cmd_curves, WRITES_FILES)
