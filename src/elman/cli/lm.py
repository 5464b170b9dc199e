"""The language model's commands: ``elman train``, ``recipes``, ``eval``, ``generate``,
``score``."""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from pathlib import Path
from typing import Any

from elman.cli import common
from elman.config import ModelConfig, TrainConfig
from elman.data.corpus import tiny_shakespeare
from elman.data.text import read_lines, read_text, split_text
from elman.data.tokenizers import make_tokenizer
from elman.errors import ElmanError
from elman.lm import checkpoint, dynamic_eval
from elman.lm.evaluate import evaluate
from elman.lm.generate import generate, score, stream
from elman.lm.model import LanguageModel, check_language_model_config, check_memory
from elman.lm.task import LanguageModelTask, training_ids
from elman.numbers import dumps, perplexity
from elman.recipes import RECIPES, Recipe, get_recipe

# Settings for `elman train` on the built-in corpus: a character-level model
# that trains in about two minutes on two cores. Explicit flags override them.
# (A tanh RNN of 512 units reads about 70,000 characters a second on two
# cores, so it sees the 1M-character corpus about 7 times in the 2 minutes.)
BUILTIN_MODEL: dict[str, Any] = {"hidden": 512}
BUILTIN_TRAIN: dict[str, Any] = {"level": "char", "epochs": 10, "max_minutes": 2.0}
SPLIT = 0.9  # --data FILE and the built-in corpus: first 90% train, last 10% validation
ROLES = ("train", "valid", "test")


def cmd_train(args: argparse.Namespace) -> None:
    if args.resume:
        return resume_training(args)
    recipe = get_recipe(args.recipe) if args.recipe else None
    data = training_data(args, recipe)
    builtin = data["train"] is None
    if recipe is not None:
        model_base, train_base = recipe.model, recipe.train
    elif builtin:
        model_base, train_base = BUILTIN_MODEL, BUILTIN_TRAIN
    else:
        model_base, train_base = {}, {}
    train_config = common.config_from_flags(TrainConfig, args, train_base)
    # vocab_size is known once the vocabulary is built; 1 stands in until then.
    model_config = common.config_from_flags(ModelConfig, args, {**model_base, "vocab_size": 1})
    # Refuse bad settings before reading any data, and check everything before the
    # --out directory is touched: a refused run leaves it as it was.
    check_language_model_config(model_config)
    out = common.out_directory(args)

    train_text, valid_text, test_text = read_training_texts(data)
    texts = (train_text, valid_text, test_text)
    data["sha256"] = {role: common.digest(text) for role, text in zip(ROLES, texts, strict=True)}
    if recipe is not None:
        data["recipe"] = recipe.name
        print(f"recipe {recipe.name}: {recipe.summary}; published: {recipe.published}")
    if builtin:
        print(
            "training on the built-in Tiny Shakespeare corpus "
            "(first 90% train, last 10% validation)"
        )

    tokenizer = make_tokenizer(
        train_config.level, train_text, train_config.max_vocab, train_config.min_count
    )
    model_config = dataclasses.replace(model_config, vocab_size=len(tokenizer))
    check_memory(model_config)
    model = LanguageModel(model_config, seed=train_config.seed)
    train_ids, valid_ids = training_ids(tokenizer, train_text, valid_text, train_config)
    print(
        f"vocabulary: {len(tokenizer):,} {train_config.level} tokens; model: "
        f"{model.flat_params.size:,} parameters; checkpoint: {out}"
    )
    for name, text in (("validation", valid_text), ("test", test_text)):
        unknown = sum(tokenizer.unknown_tokens(text).values()) if text is not None else 0
        if unknown:
            print(
                f"{name} text: {unknown:,} tokens are not in the training vocabulary "
                "and count as <unk>"
            )
    task = LanguageModelTask(model, tokenizer, train_ids, valid_ids, train_config, data)
    with common.training_run(out, resume=False, overwrite=args.overwrite):
        # The run's files exist from the start, so that an interrupted run can resume.
        checkpoint.save(out, model, tokenizer, train_config, info={"epoch": 0}, data=data)
        history = common.train_task(task, train_config, out, resume=False)
        finish_training(out, model, tokenizer, train_config, test_text, history, recipe)


def training_data(args: argparse.Namespace, recipe: Recipe | None) -> dict[str, Any]:
    """Which texts to train on, as absolute paths; ``"train": None`` is the built-in corpus.

    --data DIR means DIR/train.txt, valid.txt and test.txt; --data FILE one text that
    is split, first 90% to train and the last 10% to validate."""
    given = [name for name in ("train", "valid", "test") if getattr(args, name)]
    if args.data is not None:
        if given:
            raise ElmanError(
                f"--data replaces --train, --valid and --test; give --data or --{given[0]}."
            )
        return data_files(Path(args.data))
    if not given and recipe is not None and not recipe.builtin_data:
        raise ElmanError(
            f"the recipe {recipe.name} needs --data DIR, a directory holding the "
            f"{recipe.data}, e.g. --data ../shared/data/ptb."
        )
    if args.train is None and args.valid is not None:
        raise ElmanError(
            "--valid needs --train; without --train the built-in corpus is split 90/10."
        )
    return {
        "train": common.abspath(args.train),
        "valid": common.abspath(args.valid),
        "test": common.abspath(args.test),
    }


def data_files(path: Path) -> dict[str, Any]:
    """--data: a directory with train.txt, valid.txt and test.txt, or one file to split."""
    if path.is_dir():
        files = {role: path / f"{role}.txt" for role in ("train", "valid", "test")}
        missing = [f.name for f in files.values() if not f.is_file()]
        if missing:
            raise ElmanError(
                f"--data {path} should hold train.txt, valid.txt and test.txt, but "
                f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing; add "
                "them, or give one text file to split 90/10."
            )
        return {role: str(f.resolve()) for role, f in files.items()}
    if path.is_file():
        return {"train": str(path.resolve()), "valid": None, "test": None, "split": SPLIT}
    raise ElmanError(
        f"--data {path} does not exist; give a directory holding train.txt, valid.txt and "
        "test.txt, or one text file to split 90/10."
    )


def resume_training(args: argparse.Namespace) -> None:
    """Continue the run in --resume DIR exactly where it stopped."""
    out = Path(args.resume)
    ckpt = checkpoint.load(out)
    inputs = ("train", "valid", "test", "data", "recipe")
    train_config = common.resumed_train_config(args, ckpt.train_config, inputs)
    if not ckpt.data:
        raise ElmanError(f"{out} records no training texts, so it cannot be resumed.")
    texts = read_training_texts(ckpt.data)
    for role, text in zip(ROLES, texts, strict=True):
        if common.digest(text) != ckpt.data.get("sha256", {}).get(role):
            raise ElmanError(
                f"the {role} text ({ckpt.data.get(role) or 'built-in corpus'}) changed since the "
                f"run in {out} started; restore it, or start a new run with --out."
            )
    train_text, valid_text, test_text = texts
    model = LanguageModel(ckpt.model.config, seed=train_config.seed)
    train_ids, valid_ids = training_ids(ckpt.tokenizer, train_text, valid_text, train_config)
    task = LanguageModelTask(model, ckpt.tokenizer, train_ids, valid_ids, train_config, ckpt.data)
    with common.training_run(out, resume=True):
        print(f"resuming the run in {out}")
        history = common.train_task(task, train_config, out, resume=True)
        if history is not None:
            recipe = RECIPES.get(ckpt.data.get("recipe", ""))
            finish_training(out, model, ckpt.tokenizer, train_config, test_text, history, recipe)


def read_training_texts(data: dict[str, Any]) -> tuple[str, str | None, str | None]:
    """The train, validation and test texts a run records (None: the built-in corpus;
    ``"split"``: the training file's first part trains, the rest validates)."""
    if data["train"] is None:
        train_text, valid_text = split_text(tiny_shakespeare(), SPLIT)
    elif data.get("split"):
        train_text, valid_text = split_text(read_text(data["train"]), data["split"])
    else:
        train_text = read_text(data["train"])
        valid_text = read_text(data["valid"]) if data["valid"] is not None else None
    test_text = read_text(data["test"]) if data["test"] is not None else None
    return train_text, valid_text, test_text


def finish_training(
    out: Path,
    model: LanguageModel,
    tokenizer: Any,
    config: TrainConfig,
    test_text: str | None,
    history: list[dict[str, Any]],
    recipe: Recipe | None = None,
) -> None:
    """Score the test text with the best model, if any, print a sample and the
    figure a recipe is measured by."""
    test = None
    if test_text is not None:
        test = evaluate(model, tokenizer, test_text, config.eval_batch, config.bptt)
        common.append_metrics(out, {"event": "test", **test.as_dict()})
        print(
            f"test perplexity {test.perplexity:.2f} ({test.loss:.4f} nats/token, "
            f"{test.tokens:,} tokens scored, state {model.config.state})"
        )
    print("sample:")
    print(generate(model, tokenizer, "", tokenizer.sample_length, seed=config.seed))
    print(f"\nsaved to {out}; try: elman generate --model {out} --prompt ...")
    if recipe is not None:
        print(recipe_result(recipe, history, test))


def recipe_result(recipe: Recipe, history: list[dict[str, Any]], test: Any) -> str:
    """One line: what the recipe reached, in how long, beside the published figure."""
    minutes = history[-1]["seconds"] / 60 if history else 0.0
    valid = [r["valid_loss"] for r in history if "valid_loss" in r]
    if test is not None:
        figure = f"test perplexity {test.perplexity:.2f}"
    elif valid:
        figure = (
            f"validation loss {min(valid):.4f} nats/token (perplexity {perplexity(min(valid)):.2f})"
        )
    else:
        figure = "no held-out figure"
    whole = sum(not r.get("partial") for r in history)
    epochs = f"{whole} epoch" + ("" if whole == 1 else "s")
    if history and history[-1].get("partial"):
        epochs += f" and part of epoch {history[-1]['epoch']}"
    return (
        f"recipe {recipe.name}: {figure} after {minutes:.1f} minutes of training "
        f"({epochs}); published: {recipe.published}"
    )


def cmd_recipes(args: argparse.Namespace) -> None:
    for recipe in RECIPES.values():
        print(f"{recipe.name}: {recipe.summary}")
        print(f"  command:   {recipe.example or f'elman {recipe.command} --recipe {recipe.name}'}")
        settings = common.defaults_text(recipe.model, recipe.kind, recipe.train)
        print(f"  settings:  {settings}")
        print(f"  {'--data:' if recipe.command == 'train' else 'data:':<10} {recipe.data}")
        print(f"  published: {recipe.published}")
        print(f"  target:    {recipe.target}")
        print()
    print(
        "Run one with: elman train --recipe NAME --data DIR, or elman translate train --recipe "
        "NAME with its data, and flags that override its settings"
    )


def cmd_eval(args: argparse.Namespace) -> None:
    ckpt = checkpoint.load(args.model)
    text = read_text(args.data)
    batch = ckpt.train_config.eval_batch if args.batch is None else args.batch
    if batch < 1:
        raise ElmanError(f"--batch must be a positive integer, got {batch}.")
    result = evaluate(ckpt.model, ckpt.tokenizer, text, batch, ckpt.train_config.bptt)
    dynamic = (
        dynamic_evaluation(args, ckpt, text)
        if args.dynamic_lr is not None or args.dynamic_tune
        else None
    )
    if args.json:
        print(dumps({**result.as_dict(), **({"dynamic": dynamic} if dynamic else {})}))
        return
    print(f"perplexity     {result.perplexity:.3f}")
    print(f"cross-entropy  {result.loss:.4f} nats/token, {result.bits_per_token:.4f} bits/token")
    print(
        f"tokens scored  {result.tokens:,} "
        f"({result.unknown:,} not in the vocabulary, scored as <unk>)"
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
        print(f"perplexity     {dynamic['perplexity']:.3f} over {dynamic['tokens']:,} tokens")


def dynamic_evaluation(args: argparse.Namespace, ckpt: Any, text: str) -> dict[str, Any]:
    """Dynamic evaluation of ``text``, with --dynamic-lr or the rate that does best on
    --dynamic-tune's text."""
    if args.dynamic_lr is not None and args.dynamic_tune:
        raise ElmanError("give --dynamic-lr or --dynamic-tune, not both.")
    if args.dynamic_lr is not None and not args.dynamic_lr > 0:
        raise ElmanError(f"--dynamic-lr must be positive, got {args.dynamic_lr}.")
    if args.dynamic_tune and common.same_file(args.dynamic_tune, args.data):
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
    result = dynamic_eval.dynamic_evaluate_ids(model, tokenizer.encode(text), lr, **settings)
    return {
        **report,
        "lr": lr,
        "perplexity": result.perplexity,
        "loss": result.loss,
        "tokens": result.tokens,
    }


def cmd_generate(args: argparse.Namespace) -> None:
    ckpt = checkpoint.load(args.model)
    length = args.length if args.length is not None else ckpt.tokenizer.sample_length
    pieces = stream(
        ckpt.model,
        ckpt.tokenizer,
        args.prompt,
        length,
        args.temperature,
        args.top_k,
        args.seed,
        args.top_p,
    )
    sys.stdout.write(args.prompt)
    for piece in pieces:
        sys.stdout.write(piece)
        sys.stdout.flush()
    sys.stdout.write("\n")


def cmd_score(args: argparse.Namespace) -> None:
    ckpt = checkpoint.load(args.model)
    lines = read_lines(args.file)
    if not args.json:
        print("log_prob\tperplexity\ttokens\ttext")
    scores = score(
        ckpt.model, ckpt.tokenizer, [line for line in lines if not common.is_blank(line)]
    )
    for line in lines:
        if common.is_blank(line):
            print()  # a blank line has nothing to score: output stays aligned with input
            continue
        s = next(scores)
        if args.json:
            record = {
                "text": s.text,
                "log_prob": s.log_prob,
                "perplexity": s.perplexity,
                "tokens": s.tokens,
                "unknown": s.unknown,
            }
            print(dumps(record, ensure_ascii=False))
        else:
            print(f"{s.log_prob:.4f}\t{s.perplexity:.3f}\t{s.tokens}\t{s.text}")


def register(commands: argparse._SubParsersAction) -> None:
    """Add the language model's commands: train, recipes, eval, generate, score."""
    p = commands.add_parser(
        "train",
        help="train a language model",
        description="Train a language model; with no --train, a character "
        "model on the built-in Tiny Shakespeare.",
    )
    p.add_argument(
        "--train", metavar="FILE", help="training text (UTF-8); default: built-in corpus"
    )
    p.add_argument("--valid", metavar="FILE", help="validation text, evaluated after each epoch")
    p.add_argument("--test", metavar="FILE", help="test text, evaluated once at the end")
    p.add_argument(
        "--data",
        metavar="PATH",
        help="instead of --train/--valid/--test: a directory holding train.txt, valid.txt and "
        "test.txt, or one text file split into its first 90%% (train) and last 10%% (validation)",
    )
    p.add_argument(
        "--recipe",
        metavar="NAME",
        help="start from a recipe's settings "
        f"({', '.join(r.name for r in RECIPES.values() if r.command == 'train')}; see elman "
        "recipes); "
        "flags given override them",
    )
    common.add_training_flags(p, "train", "lm", (ModelConfig, TrainConfig))
    p.set_defaults(run=cmd_train)

    p = commands.add_parser(
        "recipes",
        help="list the recipes: settings that reproduce published results",
        description="Recipes for elman train --recipe NAME --data DIR.",
    )
    p.set_defaults(run=cmd_recipes)

    p = commands.add_parser("eval", help="perplexity of a model on a text")
    p.add_argument("--model", required=True, metavar="DIR", help="checkpoint directory")
    p.add_argument("--data", required=True, metavar="FILE", help="text to evaluate (UTF-8)")
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
    p.set_defaults(run=cmd_eval)

    p = commands.add_parser("generate", help="sample text from a model")
    p.add_argument("--model", required=True, metavar="DIR", help="checkpoint directory")
    p.add_argument("--prompt", default="", help="text to continue (default: a new line)")
    p.add_argument(
        "--length",
        type=int,
        metavar="N",
        help="tokens to generate (default: 300 chars or 60 words)",
    )
    add_sampling_flags(p)
    p.set_defaults(run=cmd_generate)

    p = commands.add_parser("score", help="log-probability and perplexity of each line")
    p.add_argument("--model", required=True, metavar="DIR", help="checkpoint directory")
    p.add_argument("file", nargs="?", metavar="FILE", help="lines to score (default: stdin)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(run=cmd_score)


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
