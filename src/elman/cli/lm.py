"""The language model's commands besides train: ``elman eval``, ``generate``, ``score``."""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from elman.cli.backend import add_backend_flags, on_engine
from elman.cli.flags import WRITES_OUTPUT, declare, is_blank
from elman.data.labeled import read_labeled
from elman.data.text import read_lines, read_text
from elman.errors import ElmanError
from elman.lm import checkpoint, dynamic_eval
from elman.lm.data import Part, label_id, labelled_part, one_vector, vector_part
from elman.lm.evaluate import evaluate
from elman.lm.generate import samples, score, stream
from elman.metrics import perplexity
from elman.strict_json import dumps


def register(parser: argparse.ArgumentParser, command: str) -> None:
    """Fill ``parser`` with ``command``: eval, generate or score."""
    {"eval": add_eval, "generate": add_generate, "score": add_score}[command](parser)


def cmd_eval(args: argparse.Namespace) -> None:
    if args.backend == "torch" and (args.dynamic_lr is not None or args.dynamic_tune):
        raise ElmanError(
            "dynamic evaluation runs on the NumPy engine only; drop --backend torch (or the "
            "--dynamic-* flags)."
        )
    ckpt = on_engine(args, checkpoint.load)
    part = evaluation_part(args, ckpt)
    text = part.text
    batch = ckpt.train_config.eval_batch if args.batch is None else args.batch
    if batch < 1:
        raise ElmanError(f"--batch must be a positive integer, got {batch}.")
    bptt = ckpt.train_config.bptt
    result = evaluate(ckpt.model, ckpt.tokenizer, text, batch, bptt, part.conditions)
    if part.conditions is not None and (args.dynamic_lr is not None or args.dynamic_tune):
        raise ElmanError("dynamic evaluation reads one long text; a conditioned model has none.")
    dynamic = (
        dynamic_evaluation(args, ckpt, text)
        if args.dynamic_lr is not None or args.dynamic_tune
        else None
    )
    if args.json:
        print(dumps({**result.as_dict(), **({"dynamic": dynamic} if dynamic else {})}))
        return
    print(f"perplexity     {result.perplexity:.3f} per token")
    print(
        f"bits per char  {result.bits_per_char:.4f} over {result.chars:,} characters, "
        f"{result.bits_per_byte:.4f} bits per UTF-8 byte over {result.bytes:,}"
    )
    print(f"cross-entropy  {result.loss:.4f} nats/token, {result.bits_per_token:.4f} bits/token")
    print(
        f"tokens scored  {result.tokens:,} "
        f"({result.unknown:,} not in the vocabulary, scored as <unk>)"
    )
    if result.unknown:
        print(
            "note: with tokens scored as <unk> the model is spared predicting what they were, "
            "so these figures flatter it and are not comparable with another model's"
        )
    if dynamic:
        tuned = ""
        if "tuned_on" in dynamic:
            tried = ", ".join(
                f"{lr:g}: " + (f"{ppl:.2f}" if ppl is not None else "diverged")
                for lr, ppl in dynamic["tried"].items()
            )
            tuned = f", tuned on {dynamic['tuned_on']} (perplexity there at each lr: {tried})"
        print(
            f"dynamic evaluation (one stream, an update every {dynamic['bptt']} tokens, "
            f"lr {dynamic['lr']:g}, decay {dynamic['decay']:g}{tuned}):"
        )
        print(
            f"perplexity     {dynamic['perplexity']:.3f} over {dynamic['tokens']:,} tokens, "
            f"{dynamic['bits_per_char']:.4f} bits per character"
        )


def evaluation_part(args: argparse.Namespace, ckpt: checkpoint.Checkpoint) -> Part:
    """The text --data to evaluate, each line with its condition for a conditioned model:
    a labelled file (label<TAB>text) for a label model, --vectors for a vector model."""
    condition = ckpt.condition.condition
    if condition != "vector" and args.vectors is not None:
        raise ElmanError("--vectors is for a vector-conditioned model; leave it out.")
    if condition == "label":
        return labelled_part(read_labeled(args.data), ckpt.labels)
    if condition == "vector":
        if args.vectors is None:
            raise ElmanError("this model reads a vector per line; give --vectors FILE.npy.")
        return vector_part(read_text(args.data), args.vectors, ckpt.condition.condition_size)
    return Part(read_text(args.data))


def condition_of(args: argparse.Namespace, ckpt: checkpoint.Checkpoint) -> np.ndarray | None:
    """The condition --label or --vector gives, for generate and score (None: none)."""
    if args.label is not None and args.vector is not None:
        raise ElmanError("give --label or --vector, not both.")
    condition = ckpt.condition.condition
    if args.label is not None and condition == "label":
        return label_id(ckpt.labels, args.label)
    if args.vector is not None and condition == "vector":
        return one_vector(args.vector, ckpt.condition.condition_size)
    if args.label is not None or args.vector is not None:
        given = "--label" if args.label is not None else "--vector"
        if condition == "none":
            raise ElmanError(
                f"this language model was trained without a condition; leave out {given}."
            )
        raise ElmanError(
            f"this model reads a {condition} condition; give --{condition}, not {given}."
        )
    if condition == "label":
        raise ElmanError(
            f"this model generates given a label; give --label (one of {', '.join(ckpt.labels)})."
        )
    if condition == "vector":
        raise ElmanError("this model generates given a vector; give --vector FILE.npy.")
    return None


def dynamic_evaluation(args: argparse.Namespace, ckpt: Any, text: str) -> dict[str, Any]:
    """Dynamic evaluation of ``text``, with --dynamic-lr or the rate that does best on
    --dynamic-tune's text."""
    if args.dynamic_lr is not None and args.dynamic_tune:
        raise ElmanError("give --dynamic-lr or --dynamic-tune, not both.")
    if args.dynamic_lr is not None and not args.dynamic_lr > 0:
        raise ElmanError(f"--dynamic-lr must be positive, got {args.dynamic_lr}.")
    if args.dynamic_tune and same_file(args.dynamic_tune, args.data):
        raise ElmanError(
            f"--dynamic-tune {args.dynamic_tune} is the text being scored; tune the rate on "
            "other held-out text (e.g. the validation text), or the figure would be tuned on "
            "its own test."
        )
    model, tokenizer, config = ckpt.model, ckpt.tokenizer, ckpt.train_config
    bptt = config.bptt if args.dynamic_bptt is None else args.dynamic_bptt
    if bptt < 1:
        raise ElmanError(f"--dynamic-bptt must be a positive integer, got {bptt}.")
    settings = {
        "bptt": bptt,
        "eos_id": tokenizer.eos_id,
        "decay": args.dynamic_decay,
        "clip": config.clip,  # as in training
    }
    report: dict[str, Any] = {"decay": args.dynamic_decay, "bptt": bptt}
    lr = args.dynamic_lr
    if args.dynamic_tune:
        tune_ids = tokenizer.encode(read_text(args.dynamic_tune))
        lr, losses = dynamic_eval.tune_lr(model, tune_ids, **settings)
        report["tuned_on"] = args.dynamic_tune
        report["tried"] = {  # perplexity at each rate; None where it diverged
            rate: perplexity(loss) if math.isfinite(loss) else None
            for rate, loss in sorted(losses.items())
        }
    encoded = tokenizer.encode_text(text)
    result = dynamic_eval.dynamic_evaluate_ids(model, encoded.ids, lr, **settings, text=encoded)
    return {
        **report,
        "lr": lr,
        "perplexity": result.perplexity,
        "loss": result.loss,
        "tokens": result.tokens,
        "bits_per_char": result.bits_per_char,
        "bits_per_byte": result.bits_per_byte,
        "chars": result.chars,
        "bytes": result.bytes,
    }


def cmd_generate(args: argparse.Namespace) -> None:
    ckpt = on_engine(args, checkpoint.load)
    condition = condition_of(args, ckpt)
    length = args.length if args.length is not None else ckpt.tokenizer.sample_length
    settings = (args.temperature, args.top_k, args.seed, args.top_p, condition)
    if args.count != 1:  # each sample a line of its own, ending at a line end; in one batch
        for text in samples(ckpt.model, ckpt.tokenizer, args.count, args.prompt, length,
                            *settings):  # fmt: skip
            print(text, flush=True)
        return
    pieces = stream(ckpt.model, ckpt.tokenizer, args.prompt, length, *settings)
    sys.stdout.write(args.prompt)
    for piece in pieces:
        sys.stdout.write(piece)
        sys.stdout.flush()
    sys.stdout.write("\n")


def cmd_score(args: argparse.Namespace) -> None:
    ckpt = on_engine(args, checkpoint.load)
    condition = condition_of(args, ckpt)
    lines = read_lines(args.file)
    if not args.json:
        print("log_prob\tperplexity\ttokens\ttext")
    numbered = [(n, line) for n, line in enumerate(lines, 1) if not is_blank(line)]
    source = args.file or "standard input"
    names = [f"line {n:,} of {source}" for n, _ in numbered]
    scores = score(ckpt.model, ckpt.tokenizer, [line for _, line in numbered], condition, names)
    for line in lines:
        if is_blank(line):
            print()  # a blank line has nothing to score: output stays aligned with input
            continue
        s = next(scores)
        if args.json:
            record = {
                "text": s.text,
                "log_prob": s.log_prob,
                "perplexity": s.perplexity,
                "bits_per_char": s.bits_per_char,
                "tokens": s.tokens,
                "chars": s.chars,
                "unknown": s.unknown,
            }
            print(dumps(record, ensure_ascii=False))
        else:
            print(f"{s.log_prob:.4f}\t{s.perplexity:.3f}\t{s.tokens}\t{s.text}")


def add_eval(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, metavar="DIR", help="checkpoint directory")
    p.add_argument(
        "--data",
        required=True,
        metavar="FILE",
        help="text to evaluate (UTF-8); label<TAB>text lines for a label-conditioned model, "
        "each line scored given its own label",
    )
    p.add_argument(
        "--vectors", metavar="FILE.npy", help="a vector-conditioned model: one per line of --data"
    )
    p.add_argument("--batch", type=int, metavar="N", help="parallel streams (default: as trained)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--dynamic-lr",
        type=float,
        metavar="LR",
        help="also score the text with dynamic evaluation: after scoring each chunk the "
        "weights take an SGD step of this rate on it (Krause et al. 2018)",
    )
    p.add_argument(
        "--dynamic-tune",
        metavar="FILE",
        help="dynamic evaluation with the learning rate that does best on FILE (held-out "
        "text other than --data, e.g. the validation text)",
    )
    p.add_argument(
        "--dynamic-bptt",
        type=int,
        metavar="N",
        help="dynamic evaluation: tokens per chunk, i.e. per update (default: as trained)",
    )
    p.add_argument(
        "--dynamic-decay",
        type=float,
        default=0.0,
        metavar="L",
        help="dynamic evaluation: pull the weights back to the trained ones by this "
        "fraction after each step (default: 0)",
    )
    add_backend_flags(p)
    declare(p, cmd_eval, WRITES_OUTPUT, "choose a smaller --batch (or --dynamic-bptt)")


def add_generate(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, metavar="DIR", help="checkpoint directory")
    p.add_argument("--prompt", default="", help="text to continue (default: a new line)")
    p.add_argument(
        "--length",
        type=int,
        metavar="N",
        help="tokens to generate (default: 300 characters, 60 words or 150 subword pieces)",
    )
    p.add_argument(
        "--count",
        type=int,
        default=1,
        metavar="N",
        help="N independent samples, one per line, each ending at a line end or at --length "
        "(default: 1, which runs on for --length tokens)",
    )
    add_condition_flags(p)
    add_sampling_flags(p)
    add_backend_flags(p)
    declare(p, cmd_generate, WRITES_OUTPUT)


def add_score(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, metavar="DIR", help="checkpoint directory")
    p.add_argument("file", nargs="?", metavar="FILE", help="lines to score (default: stdin)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    add_condition_flags(p)
    add_backend_flags(p)
    declare(p, cmd_score, WRITES_OUTPUT)


def add_condition_flags(parser: argparse.ArgumentParser) -> None:
    """--label and --vector: the condition of a conditioned model."""
    parser.add_argument("--label", help="a label-conditioned model: the label to generate from")
    parser.add_argument(
        "--vector", metavar="FILE.npy", help="a vector-conditioned model: a .npy file of one vector"
    )


def add_sampling_flags(parser: argparse.ArgumentParser) -> None:
    """--temperature, --top-k, --top-p and --seed: how to sample."""
    parser.add_argument(
        "--temperature",
        type=float,
        default=1.0,
        metavar="X",
        help="divide logits by X; 0 is greedy (default: 1.0)",
    )
    parser.add_argument(
        "--top-k",
        type=int,
        default=0,
        metavar="N",
        help="sample among the N likeliest tokens only (default: 0, all)",
    )
    parser.add_argument(
        "--top-p",
        type=float,
        default=1.0,
        metavar="P",
        help="sample among the likeliest tokens that together have probability P "
        "(nucleus sampling, Holtzman et al. 2020; default: 1, all)",
    )
    parser.add_argument("--seed", type=int, default=0, metavar="N", help="random seed (default: 0)")


def same_file(a: str, b: str) -> bool:
    """Whether two paths name one file, or two files with the same bytes (False when
    either cannot be read: reading it later says why)."""
    try:
        return os.path.samefile(a, b) or Path(a).read_bytes() == Path(b).read_bytes()
    except OSError:
        return False
