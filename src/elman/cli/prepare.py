"""``elman prepare``: tokenise texts once into a corpus that training reads from a memory
map (``elman.prepare.prepare``)."""

from __future__ import annotations

import argparse

from elman.cli.flags import (
    WRITES_FILES,
    add_config_flags,
    config_from_flags,
    declare,
    given_settings,
)
from elman.config import TokenizerConfig
from elman.prepare import prepare, vocabulary_for


def register(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Tokenise texts once into a prepared corpus: the token ids in a flat file per part "
        "(uint16, or uint32 for a vocabulary over 65,536 tokens) and a JSON header, which "
        "elman train and elman eval read from a memory map (--train DIR, --data DIR). The "
        "text is read a piece at a time, so a corpus larger than memory can be prepared."
    )
    for role, help in (
        ("train", "the training text: files, or folders of files (read in path order)"),
        ("valid", "the validation text (files or folders)"),
        ("test", "the test text (files or folders)"),
    ):
        parser.add_argument(f"--{role}", nargs="+", metavar="PATH", help=help)
    parser.add_argument(
        "--data",
        metavar="PATH",
        help="instead of --train/--valid/--test, as elman train takes it: a directory holding "
        "train.txt, valid.txt and test.txt, or one text file split into its first 90%% "
        "(train) and last 10%% (validation)",
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="the corpus's directory")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace the prepared corpus already in --out"
    )
    parser.add_argument(
        "--vocab",
        metavar="PATH",
        help="use this vocabulary instead of fitting one on the training text: a trained "
        "model's directory (to fine-tune it: elman train --init), a prepared corpus, or a "
        "vocab.json; tokens it lacks count as <unk>",
    )
    parser.add_argument(
        "--grow-vocab",
        action="store_true",
        help="with --vocab: add the training text's tokens it lacks, after its own (for "
        "elman train --init MODEL --grow-vocab; --min-count and --max-vocab limit them)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        metavar="N",
        help="processes that count and encode the text (default 0: as many as pay: one per "
        "core, at most 4, for words on a text above 32 MB; characters are fast enough in one)",
    )
    add_config_flags(parser, TokenizerConfig)
    declare(parser, cmd_prepare, WRITES_FILES)


def cmd_prepare(args: argparse.Namespace) -> None:
    inputs = {role: getattr(args, role) for role in ("train", "valid", "test", "data")}
    config = config_from_flags(TokenizerConfig, args)
    given = set(given_settings(args, [TokenizerConfig]))
    vocabulary = vocabulary_for(config, given, args.vocab, args.grow_vocab)
    prepare(inputs, args.out, vocabulary, args.overwrite, workers=args.workers)
