"""The language model's commands: ``elman train``, ``recipes``, ``eval``, ``generate``,
``score``."""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

from elman.cli import common
from elman.cli.backend import Engine, add_backend_flags, engine_from_flags, on_engine
from elman.config import ModelConfig, TrainConfig
from elman.data.corpus import tiny_shakespeare
from elman.data.labeled import read_labeled
from elman.data.text import read_lines, read_text, split_text
from elman.data.tokenizers import make_tokenizer
from elman.errors import ElmanError
from elman.insight import plots
from elman.insight.curves import read_metrics
from elman.lm import checkpoint, dynamic_eval
from elman.lm.conditioned import ConditionConfig, ConditionedLanguageModel
from elman.lm.data import Part, label_id, labelled_part, one_vector, vector_part
from elman.lm.evaluate import evaluate
from elman.lm.generate import generate, samples, score, stream
from elman.lm.model import LanguageModel, check_language_model_config, check_memory
from elman.lm.task import LanguageModelTask, training_ids
from elman.metrics import perplexity
from elman.recipes import RECIPES, Recipe, get_recipe
from elman.strict_json import dumps

# Settings for `elman train` on the built-in corpus: a character-level model
# that trains in about two minutes on two cores. Explicit flags override them.
# (A tanh RNN of 512 units reads about 70,000 characters a second on two
# cores, so it sees the 1M-character corpus about 7 times in the 2 minutes.)
BUILTIN_MODEL: dict[str, Any] = {"hidden": 512}
# Each training stream restarts from a zero state every 16 chunks (1,024 characters),
# two of the 32 at each step: without that, the first epoch's only cold starts are at
# step 1, and by step 300 the grown W_h gives the tanh RNN a second regime, one its
# output layer was never fit to, which some held-out streams started cold fall into
# (perplexity in the thousands; docs/evaluation.md).
BUILTIN_TRAIN: dict[str, Any] = {
    "level": "char",
    "epochs": 10,
    "max_minutes": 2.0,
    "restart_every": 16,
}
SPLIT = 0.9  # --data FILE and the built-in corpus: first 90% train, last 10% validation
ROLES = ("train", "valid", "test")
VECTOR_FLAGS = {"train": "vectors", "valid": "valid_vectors", "test": "test_vectors"}


def cmd_train(args: argparse.Namespace) -> None:
    if args.plot is not None:
        plots.check_plot(args.plot)  # before training, not after it
    engine = engine_from_flags(args, parallel=True)
    try:
        out = resume_training(args, engine) if args.resume else new_training(args, engine)
    finally:
        engine.close()
    if args.plot is not None and engine.primary:
        plots.plot_curves(read_metrics(out), args.plot, title=str(out))
        print(f"training curves: {args.plot}")


def new_training(args: argparse.Namespace, engine: Engine) -> Path:
    """Train a new model into --out (or runs/DATE-TIME); returns that directory."""
    recipe = get_recipe(args.recipe) if args.recipe else None
    condition = common.config_from_flags(ConditionConfig, args)
    data = training_data(args, recipe, condition)
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
    engine.check_batch(train_config.batch)
    out = engine.out_directory(args)

    parts = read_parts(data, condition)
    data["sha256"] = {role: None if part is None else part.digest for role, part in parts.items()}
    if recipe is not None:
        data["recipe"] = recipe.name
        print(f"recipe {recipe.name}: {recipe.summary}; published: {recipe.published}")
    if builtin:
        print(
            "training on the built-in Tiny Shakespeare corpus "
            "(first 90% train, last 10% validation)"
        )

    train, valid, test = (parts[role] for role in ROLES)
    tokenizer = make_tokenizer(
        train_config.level, train.text, train_config.max_vocab, train_config.min_count
    )
    model_config = dataclasses.replace(model_config, vocab_size=len(tokenizer))
    check_memory(model_config)
    numpy_model = language_model(model_config, condition, data, train, train_config.seed)
    model = engine.model(numpy_model)
    task = make_task(model, tokenizer, parts, train_config, data)
    print(
        f"vocabulary: {len(tokenizer):,} {train_config.level} tokens; model: "
        f"{numpy_model.flat_params.size:,} parameters{on(engine)}; checkpoint: {out}"
    )
    for name, part in (("validation", valid), ("test", test)):
        unknown = sum(tokenizer.unknown_tokens(part.text).values()) if part is not None else 0
        if unknown:
            print(
                f"{name} text: {unknown:,} tokens are not in the training vocabulary "
                "and count as <unk>"
            )
    with engine.run_directory(out, resume=False, overwrite=args.overwrite):
        if engine.primary:  # the run's files exist from the start, so that it can resume
            checkpoint.save(out, model, tokenizer, train_config, info={"epoch": 0}, data=data)
        history = common.train_task(task, train_config, out, resume=False, world=engine.world)
        finish_training(out, checkpoint.Checkpoint(model, tokenizer, train_config, data=data),
                        test, history, recipe, engine)  # fmt: skip
    return out


def on(engine: Engine) -> str:
    """Where the model trains, for the line that introduces a run."""
    processes = f" in {engine.size} processes" if engine.size > 1 else ""
    if engine.backend == "numpy":
        return processes
    return f", on torch ({engine.world.device}){processes}"


def language_model(
    config: ModelConfig, condition: ConditionConfig, data: dict[str, Any], train: Part, seed: int
) -> LanguageModel | ConditionedLanguageModel:
    """The model a new run trains: plain, or conditioned on a label or a vector."""
    if not condition.conditioned:
        return LanguageModel(config, seed=seed)
    if condition.condition == "vector":
        condition = dataclasses.replace(condition, condition_size=train.conditions.shape[1])
    labels = len(data.get("labels", []))
    return ConditionedLanguageModel(config, condition, labels, seed=seed)


def make_task(
    model: LanguageModel | ConditionedLanguageModel,
    tokenizer: Any,
    parts: dict[str, Part | None],
    config: TrainConfig,
    data: dict[str, Any],
) -> LanguageModelTask:
    """The training loop's view of a run: its texts as ids, and the lines' conditions."""
    train, valid = parts["train"], parts["valid"]
    valid_text = None if valid is None else valid.text
    train_ids, valid_ids = training_ids(tokenizer, train.text, valid_text, config)
    conditions = None
    if train.conditions is not None:
        conditions = (train.conditions, None if valid is None else valid.conditions)
    return LanguageModelTask(model, tokenizer, train_ids, valid_ids, config, data, conditions)


def training_data(
    args: argparse.Namespace, recipe: Recipe | None, condition: ConditionConfig
) -> dict[str, Any]:
    """Which texts to train on, as absolute paths; ``"train": None`` is the built-in corpus.

    --data DIR means DIR/train.txt, valid.txt and test.txt; --data FILE one text that
    is split, first 90% to train and the last 10% to validate. With a label condition,
    the files hold label<TAB>text lines and --data FILE is split as the classifier
    splits it; with a vector condition each text has its --vectors file."""
    given = [name for name in ("train", "valid", "test") if getattr(args, name)]
    vectors = {role: getattr(args, name) for role, name in VECTOR_FLAGS.items()}
    if any(vectors.values()) and condition.condition != "vector":
        raise ElmanError("--vectors gives a vector condition; add --condition vector.")
    if args.data is not None and given:
        raise ElmanError(
            f"--data replaces --train, --valid and --test; give --data or --{given[0]}."
        )
    if condition.conditioned:
        return conditioned_data(args, condition, vectors)
    if args.data is not None:
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


def conditioned_data(
    args: argparse.Namespace, condition: ConditionConfig, vectors: dict[str, str | None]
) -> dict[str, Any]:
    """The files of a conditioned run (see ``training_data``), as absolute paths."""
    name = condition.condition
    if args.train is None and args.data is None:
        kind = "label<TAB>text lines" if name == "label" else "text lines"
        raise ElmanError(f"--condition {name} needs --train FILE ({kind}) or --data FILE.")
    if name == "label":
        split = args.data is not None
        files = {"data": args.data or args.train, "valid": args.valid, "test": args.test}
        return {"train": common.abspath(files["data"]), "valid": common.abspath(args.valid),
                "test": common.abspath(args.test), "label_split": split}  # fmt: skip
    if args.data is not None:
        raise ElmanError("a vector condition reads --train and --vectors; --data is for labels.")
    for role in ROLES:
        text, vector_file = getattr(args, role), vectors[role]
        if (text is None) != (vector_file is None):
            flag = VECTOR_FLAGS[role]
            raise ElmanError(
                f"--{role} and --{flag.replace('_', '-')} go together: one vector per line of "
                "the text."
            )
    return {
        **{role: common.abspath(getattr(args, role)) for role in ROLES},
        "vectors": {role: common.abspath(vectors[role]) for role in ROLES},
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


def resume_training(args: argparse.Namespace, engine: Engine) -> Path:
    """Continue the run in --resume DIR exactly where it stopped (in as many processes as
    it ran in, or another number); returns DIR."""
    out = Path(args.resume)
    ckpt = checkpoint.load(out)
    inputs = ("train", "valid", "test", "data", "recipe", *VECTOR_FLAGS.values())
    train_config = common.resumed_train_config(args, ckpt.train_config, inputs, (ConditionConfig,))
    engine.check_batch(train_config.batch)
    if not ckpt.data:
        raise ElmanError(f"{out} records no training texts, so it cannot be resumed.")
    parts = read_parts(ckpt.data, ckpt.condition, resuming=True)
    for role, part in parts.items():
        if (None if part is None else part.digest) != ckpt.data.get("sha256", {}).get(role):
            raise ElmanError(
                f"the {role} text ({ckpt.data.get(role) or 'built-in corpus'}) changed since the "
                f"run in {out} started; restore it, or start a new run with --out."
            )
    ckpt.model = engine.model(ckpt.model)
    task = make_task(ckpt.model, ckpt.tokenizer, parts, train_config, ckpt.data)
    with engine.run_directory(out, resume=True, overwrite=False):
        print(f"resuming the run in {out}{on(engine)}")
        history = common.train_task(task, train_config, out, resume=True, world=engine.world)
        if history is not None:
            recipe = RECIPES.get(ckpt.data.get("recipe", ""))
            ckpt.train_config = train_config
            finish_training(out, ckpt, parts["test"], history, recipe, engine)
    return out


def read_parts(
    data: dict[str, Any], condition: ConditionConfig, resuming: bool = False
) -> dict[str, Part | None]:
    """The train, validation and test texts a run records (None where there is none),
    each line with its condition for a conditioned run. A new run with a label condition
    takes the training part's labels, sorted, and records them in ``data``; a resumed run
    (``resuming``) reads its conditions as recorded."""
    if condition.condition == "label":
        split = condition if data["label_split"] else dataclasses.replace(
            condition, valid_fraction=0.0, test_fraction=0.0
        )  # fmt: skip
        files = {"data": data["train"], "valid": data["valid"], "test": data["test"]}
        examples = common.labelled_parts(files, split)[:3]
        if not resuming:
            data["labels"] = sorted({e.label for e in examples[0]})
        return {
            role: labelled_part(part, data["labels"]) if part else None
            for role, part in zip(ROLES, examples, strict=True)
        }
    if condition.condition == "vector":
        size = condition.condition_size if resuming else None
        parts: dict[str, Part | None] = {}
        for role in ROLES:  # the training vectors first: they set the size
            if data[role] is not None:
                parts[role] = vector_part(read_text(data[role]), data["vectors"][role], size)
                size = parts[role].conditions.shape[1]
            else:
                parts[role] = None
        return parts
    texts = read_training_texts(data)
    return {
        role: None if text is None else Part(text) for role, text in zip(ROLES, texts, strict=True)
    }


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
    ckpt: checkpoint.Checkpoint,
    test: Part | None,
    history: list[dict[str, Any]],
    recipe: Recipe | None = None,
    engine: Engine | None = None,
) -> None:
    """Score the test text with the best model, if any (every process of a data-parallel
    run takes its share), print a sample (one per label of a label-conditioned model) and
    the figure a recipe is measured by."""
    model, tokenizer, config = ckpt.model, ckpt.tokenizer, ckpt.train_config
    result = None
    if test is not None:
        result = evaluate(model, tokenizer, test.text, config.eval_batch, config.bptt,
                          test.conditions, config.threads)  # fmt: skip
        if engine is None or engine.primary:
            common.append_metrics(out, {"event": "test", **result.as_dict()})
        print(
            f"test perplexity {result.perplexity:.2f} ({result.loss:.4f} nats/token, "
            f"{result.tokens:,} tokens scored, state {model.config.state})"
        )
    print("sample:")
    if ckpt.condition.condition == "label":
        for label in ckpt.labels[:5]:
            condition = label_id(ckpt.labels, label)
            line = generate(model, tokenizer, "", tokenizer.sample_length, seed=config.seed,
                            condition=condition, stop_at_line_end=True)  # fmt: skip
            print(f"{label}\t{line}")
    elif ckpt.condition.condition != "vector":
        print(generate(model, tokenizer, "", tokenizer.sample_length, seed=config.seed))
    print(f"\nsaved to {out}; try: elman generate --model {out} --prompt ...")
    if recipe is not None:
        print(recipe_result(recipe, history, result))


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
    texts = [line for line in lines if not common.is_blank(line)]
    scores = score(ckpt.model, ckpt.tokenizer, texts, condition)
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
    for role, flag in VECTOR_FLAGS.items():
        p.add_argument(
            f"--{flag.replace('_', '-')}",
            metavar="FILE.npy",
            help=f"--condition vector: one vector per line of --{role} (a NumPy .npy array)",
        )
    common.add_training_flags(p, "train", "lm", (ModelConfig, TrainConfig, ConditionConfig))
    add_backend_flags(p, training=True)
    p.add_argument(
        "--plot",
        metavar="FILE.png",
        help="at the end, draw the training curves into FILE.png (needs matplotlib: pip "
        "install 'elman[plot]'; also with --resume)",
    )
    p.set_defaults(run=cmd_train)

    p = commands.add_parser(
        "recipes",
        help="list the recipes: settings that reproduce published results",
        description="Recipes for elman train --recipe NAME --data DIR.",
    )
    p.set_defaults(run=cmd_recipes)

    p = commands.add_parser("eval", help="perplexity of a model on a text")
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
    p.set_defaults(run=cmd_generate)

    p = commands.add_parser("score", help="log-probability and perplexity of each line")
    p.add_argument("--model", required=True, metavar="DIR", help="checkpoint directory")
    p.add_argument("file", nargs="?", metavar="FILE", help="lines to score (default: stdin)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    add_condition_flags(p)
    add_backend_flags(p)
    p.set_defaults(run=cmd_score)


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
