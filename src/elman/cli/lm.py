"""The language model's commands besides train: ``elman eval``, ``generate``, ``score``."""

from __future__ import annotations

import argparse
import sys

from elman.cli.backend import add_backend_flags, on_engine
from elman.cli.flags import WRITES_OUTPUT, batch_of, declare, is_blank
from elman.data.text import read_lines
from elman.errors import ElmanError
from elman.lm import checkpoint, dynamic_eval
from elman.lm.data import condition_of, evaluation_part
from elman.lm.evaluate import evaluate_ids
from elman.lm.generate import samples, score, stream
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
    part = evaluation_part(ckpt, args.data, args.vectors)
    ids, counts = part.encoded(ckpt.tokenizer)
    batch = batch_of(args, ckpt)
    bptt = ckpt.train_config.bptt
    result = evaluate_ids(ckpt.model, ids, batch, bptt, ckpt.tokenizer.eos_id, part.conditions,
                          text=counts)  # fmt: skip
    if part.conditions is not None and (args.dynamic_lr is not None or args.dynamic_tune):
        raise ElmanError("dynamic evaluation reads one long text; a conditioned model has none.")
    dynamic = None
    if args.dynamic_lr is not None or args.dynamic_tune:
        dynamic = dynamic_eval.report(ckpt, ids, counts, args.dynamic_lr, args.dynamic_tune,
                                      args.dynamic_bptt, args.dynamic_decay, args.data)  # fmt: skip
    if args.json:
        print(dumps({**result.as_dict(), **({"dynamic": dynamic} if dynamic else {})}))
        return
    print("\n".join(result.report()))
    if dynamic:
        print("\n".join(dynamic_eval.describe(dynamic)))


def cmd_generate(args: argparse.Namespace) -> None:
    ckpt = on_engine(args, checkpoint.load)
    condition = condition_of(ckpt, args.label, args.vector)
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
    condition = condition_of(ckpt, args.label, args.vector)
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
            print(dumps(s.as_dict(), ensure_ascii=False))
        else:
            print(f"{s.log_prob:.4f}\t{s.perplexity:.3f}\t{s.tokens}\t{s.text}")


def add_eval(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, metavar="DIR", help="checkpoint directory")
    p.add_argument(
        "--data",
        required=True,
        metavar="PATH",
        help="text to evaluate (UTF-8); label<TAB>text lines for a label-conditioned model, "
        "each line scored given its own label; or a prepared corpus (elman prepare): "
        "corpus/PART.bin, or of corpus/ its test part (else valid, else train)",
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
