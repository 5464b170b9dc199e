"""The translator's commands besides train: ``elman translate eval | predict``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from elman.checkpoint import check_output_directory
from elman.cli.backend import add_backend_flags, on_engine
from elman.cli.flags import WRITES_FILES, WRITES_OUTPUT, batch_of, declare
from elman.data.text import read_lines
from elman.errors import ElmanError
from elman.insight.plots import plot_attention, require_matplotlib
from elman.strict_json import dumps
from elman.translate import checkpoint
from elman.translate.checkpoint import TranslatorCheckpoint
from elman.translate.decode import Translation, attention_in_line_order, translate_lines
from elman.translate.evaluate import BLEU_EXTRA, summary
from elman.translate.kind import evaluate_pairs, evaluation_pairs
from elman.translate.model import FORMATS, check_beam

PARTS = ("train", "valid", "test")
SPLITS = ("all", *PARTS)


def register(parser: argparse.ArgumentParser, command: str) -> None:
    """Fill ``parser`` with ``command``: eval or predict."""
    {"eval": add_eval, "predict": add_predict}[command](parser)


# Evaluation -------------------------------------------------------------------------------


def cmd_eval(args: argparse.Namespace) -> None:
    ckpt = on_engine(args, checkpoint.load)
    beam = ckpt.translate_config.beam if args.beam is None else args.beam
    batch = batch_of(args, ckpt)
    check_beam(beam)
    pairs = evaluation_pairs(ckpt, args.data, args.source, args.target, args.format, args.split)
    if not pairs:
        raise ElmanError(f"the {args.split} part of {args.data} is empty; nothing to evaluate.")
    result = evaluate_pairs(ckpt, pairs, beam, batch)
    if args.json:
        print(dumps({**result.as_dict(), "split": args.split}))
        return
    print(summary(result))
    print(
        f"{result.unknown_source:,} source and {result.unknown_target:,} target tokens not in "
        "the vocabularies (read as <unk>)"
    )


# Prediction -------------------------------------------------------------------------------


def cmd_predict(args: argparse.Namespace) -> None:
    ckpt = on_engine(args, checkpoint.load)
    config = ckpt.translate_config
    beam = config.beam if args.beam is None else args.beam
    check_beam(beam)
    if args.batch < 1:
        raise ElmanError(f"--batch must be a positive integer, got {args.batch}.")
    if args.show_attention is not None:
        if not ckpt.model.attends:
            raise ElmanError(
                "the model has no attention (trained with --attention none), so there is none "
                "to show; drop --show-attention."
            )
        require_matplotlib("--show-attention")
        check_output_directory(args.show_attention, "--show-attention")  # made when used
    lines = read_lines(args.file)
    name = args.file or "standard input"
    for batch in translate_lines(ckpt, lines, beam, args.batch, name):
        for i, found in batch:
            if found is None:
                print()  # a blank line is answered with a blank line
                continue
            text = ckpt.target.decode(found.ids.tolist())
            if args.json:
                record = {"source": lines[i].strip(), "translation": text,
                          "log_prob": found.log_prob, "finished": found.finished}  # fmt: skip
                print(dumps(record, ensure_ascii=False))
            else:
                print(text)
            if args.show_attention is not None:
                write_attention(args.show_attention, i + 1, ckpt, lines[i], found)
        sys.stdout.flush()  # each batch as it is ready


def write_attention(
    directory: str, number: int, ckpt: TranslatorCheckpoint, line: str, found: Translation
) -> None:
    """The attention behind line ``number``'s translation as DIR/line-NNNN.png."""
    weights, source_tokens, output_tokens = attention_in_line_order(ckpt, line, found)
    Path(directory).mkdir(parents=True, exist_ok=True)
    plot_attention(
        weights, source_tokens, output_tokens, Path(directory) / f"line-{number:04d}.png"
    )


def add_eval(p: argparse.ArgumentParser) -> None:
    p.description = (
        "Evaluate a translator on sentence pairs: the perplexity of the reference "
        "translations (each <eos> counted), the fraction of translations equal to their "
        f"reference, and corpus BLEU (sacreBLEU, 0-100; {BLEU_EXTRA})."
    )
    p.add_argument("--model", required=True, metavar="DIR", help="checkpoint directory")
    p.add_argument("--source", metavar="FILE", help="source sentences")
    p.add_argument("--target", metavar="FILE", help="their reference translations")
    p.add_argument("--data", metavar="FILE", help="instead: one pair per line")
    p.add_argument(
        "--format",
        choices=FORMATS,
        help="what a --data line holds (default: as the model was trained)",
    )
    p.add_argument(
        "--split",
        choices=SPLITS,
        default="all",
        help="evaluate this part of --data, split as recorded in the checkpoint (it must be "
        "the file the model was trained from); default: all of it",
    )
    add_decoding_flags(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_backend_flags(p)
    declare(p, cmd_eval, WRITES_OUTPUT, "choose a smaller --beam or --batch")


def add_predict(p: argparse.ArgumentParser) -> None:
    p.description = (
        "Translate each line, printing one translation per line as each batch is ready "
        "(a blank line is answered with a blank line)."
    )
    p.add_argument("--model", required=True, metavar="DIR", help="checkpoint directory")
    p.add_argument("file", nargs="?", metavar="FILE", help="sentences (default: stdin)")
    add_decoding_flags(p, batch_default=16)
    p.add_argument(
        "--show-attention",
        metavar="DIR",
        help="write each line's attention weights as DIR/line-NNNN.png (matplotlib: "
        "pip install 'elman[plot]')",
    )
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    add_backend_flags(p)
    declare(p, cmd_predict, WRITES_FILES, "choose a smaller --beam or --batch")


def add_decoding_flags(parser: argparse.ArgumentParser, batch_default: int | None = None) -> None:
    parser.add_argument(
        "--beam", type=int, metavar="N", help="beam width, 1 for greedy (default: as trained)"
    )
    parser.add_argument(
        "--batch",
        type=int,
        default=batch_default,
        metavar="N",
        help="sentences decoded at once (default: "
        + ("as trained" if batch_default is None else str(batch_default))
        + ")",
    )
