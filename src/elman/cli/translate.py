"""``elman translate``: train, eval and predict sequence-to-sequence translators."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from elman.checkpoint import check_output_directory
from elman.cli import common
from elman.config import ModelConfig, TrainConfig
from elman.data.text import read_lines
from elman.errors import ElmanError
from elman.insight.plots import plot_attention, require_matplotlib
from elman.recipes import RECIPES, Recipe, get_recipe
from elman.strict_json import dumps
from elman.training import require_an_end
from elman.translate import checkpoint
from elman.translate.checkpoint import TranslatorCheckpoint
from elman.translate.data import Pair, fingerprint, read_aligned, read_data, source_ids, split
from elman.translate.decode import Translation, attention_in_line_order, translate_ids
from elman.translate.evaluate import BLEU_EXTRA, TranslationEvaluation, evaluate
from elman.translate.model import (
    FORMATS,
    TranslateConfig,
    check_beam,
    check_translator_config,
)
from elman.translate.task import TranslatorTask, build, encode_pairs

# Defaults of `elman translate train`, over those of ModelConfig and TrainConfig: an LSTM
# encoder-decoder over words with attention (TranslateConfig's default). The recipes
# (addition, dates, multi30k) set their own. Explicit flags override them.
TRANSLATE_MODEL: dict[str, Any] = dict(embed=128, hidden=256, cell="lstm", dropout=0.2)
TRANSLATE_TRAIN: dict[str, Any] = dict(
    level="word", batch=64, epochs=10, eval_batch=64, lr=0.001, lr_decay=2.0
)
# The input flags of a run, by the role of the file: what --resume may not take again.
ROLES = ("source", "target", "valid_source", "valid_target", "test_source", "test_target")
INPUTS = ("data", *ROLES, "recipe")
PARTS = ("train", "valid", "test")
SPLITS = ("all", *PARTS)


def cmd_train(args: argparse.Namespace) -> None:
    if args.resume:
        return resume_training(args)
    recipe = get_recipe(args.recipe, "translate train") if args.recipe else None
    model_base = recipe.model if recipe else TRANSLATE_MODEL
    train_base = recipe.train if recipe else TRANSLATE_TRAIN
    translate_config = common.config_from_flags(
        TranslateConfig, args, recipe.kind if recipe else {}
    )
    train_config = common.config_from_flags(TrainConfig, args, train_base)
    model_config = common.config_from_flags(ModelConfig, args, {**model_base, "vocab_size": 1})
    check_translator_config(model_config, translate_config)
    require_an_end(train_config)
    files = input_files(args, recipe)
    if args.format is not None and files["data"] is None:
        raise ElmanError("--format says what a --data line holds; drop it with --source/--target.")
    out = common.out_directory(args)  # claimed once every input is checked

    parts, record = read_parts(files, translate_config)
    if recipe is not None:
        record["recipe"] = recipe.name
        print(f"recipe {recipe.name}: {recipe.summary}; published: {recipe.published}")
    ckpt = build(parts["train"], model_config, translate_config, train_config)
    ckpt.data = record
    data = {part: encode_pairs(ckpt, pairs) if pairs else None for part, pairs in parts.items()}
    print(
        f"{len(parts['train']):,} training pairs, {len(parts['valid']):,} validation, "
        f"{len(parts['test']):,} test; vocabulary: {len(ckpt.source):,} source and "
        f"{len(ckpt.target):,} target {train_config.level} tokens; model: "
        f"{ckpt.model.flat_params.size:,} parameters; checkpoint: {out}"
    )
    report_unknown(data)
    task = TranslatorTask(ckpt, data["train"], data["valid"])
    with common.training_run(out, resume=False, overwrite=args.overwrite):
        # The run's files exist from the start, so that an interrupted run can resume.
        ckpt.info = {"epoch": 0}
        checkpoint.save(out, ckpt)
        history = common.train_task(task, train_config, out, resume=False)
        finish_training(out, ckpt, parts["test"], history, recipe)


def input_files(args: argparse.Namespace, recipe: Recipe | None) -> dict[str, str | None]:
    """The files a new run reads, by role (None: not given), after checking that they
    come as --data or as --source/--target pairs."""
    files = {role: getattr(args, role) for role in ("data", *ROLES)}
    given = [role for role in ROLES if files[role] is not None]
    if files["data"] is not None and given:
        raise ElmanError(
            f"--data holds the pairs and is split into training, validation and test parts; "
            f"give --data or --{given[0].replace('_', '-')}, not both."
        )
    for prefix in ("", "valid_", "test_"):
        source, target = files[f"{prefix}source"], files[f"{prefix}target"]
        if (source is None) != (target is None):
            missing = f"--{prefix.replace('_', '-')}{'target' if target is None else 'source'}"
            raise ElmanError(f"{missing} is missing: give both sides of the pairs.")
    if files["data"] is None and files["source"] is None:
        needs = f" (the recipe {recipe.name} needs {recipe.data})" if recipe else ""
        raise ElmanError(
            "give the pairs to train on: --source and --target (line-aligned files) or "
            f"--data FILE, or --resume DIR{needs}."
        )
    return files


def read_parts(
    files: dict[str, str | None], config: TranslateConfig
) -> tuple[dict[str, list[Pair]], dict[str, Any]]:
    """The training, validation and test pairs, and the record of them a checkpoint keeps
    (for --resume and eval --split): --data split as ``config`` says, or the given files."""
    record: dict[str, Any] = {
        "files": {role: None if f is None else os.path.abspath(f) for role, f in files.items()}
    }
    if files["data"] is not None:
        pairs = read_data(files["data"], config.format)
        train, valid, test = split(
            pairs, config.valid_fraction, config.test_fraction, config.split_seed
        )
        record["split"] = {
            "file": os.path.abspath(files["data"]),
            "pairs": len(pairs),
            "fingerprint": fingerprint(pairs),
            "format": config.format,
            "valid_fraction": config.valid_fraction,
            "test_fraction": config.test_fraction,
            "seed": config.split_seed,
            "sizes": [len(train), len(valid), len(test)],
        }
        parts = {"train": train, "valid": valid, "test": test}
    else:
        parts = {}
        for part, prefix in zip(PARTS, ("", "valid_", "test_"), strict=True):
            source, target = files[f"{prefix}source"], files[f"{prefix}target"]
            parts[part] = [] if source is None else read_aligned(source, target)
        record["fingerprints"] = {part: fingerprint(pairs) for part, pairs in parts.items()}
    if not parts["train"]:
        raise ElmanError("there are no training pairs left; give more data or smaller fractions.")
    return parts, record


def report_unknown(data: dict[str, Any]) -> None:
    """Say how many held-out tokens the training vocabularies lack."""
    for part in ("valid", "test"):
        d = data[part]
        if d is not None and (d.unknown_source or d.unknown_target):
            print(
                f"{part}: {d.unknown_source:,} source and {d.unknown_target:,} target tokens "
                "are not in the training vocabularies and count as <unk>"
            )


def resume_training(args: argparse.Namespace) -> None:
    """Continue the run in --resume DIR exactly where it stopped."""
    out = Path(args.resume)
    ckpt = checkpoint.load(out)
    train_config = common.resumed_train_config(args, ckpt.train_config, INPUTS, (TranslateConfig,))
    ckpt.train_config = train_config
    files = ckpt.data.get("files")
    if not isinstance(files, dict) or set(files) != {"data", *ROLES}:
        raise ElmanError(f"{out} records no training files, so it cannot be resumed.")
    parts, record = read_parts(files, ckpt.translate_config)
    if any(ckpt.data.get(key) != value for key, value in record.items()):
        raise ElmanError(
            f"the pairs ({', '.join(f for f in files.values() if f)}) changed since the run in "
            f"{out} started; restore them, or start a new run with --out."
        )
    data = {part: encode_pairs(ckpt, pairs) if pairs else None for part, pairs in parts.items()}
    task = TranslatorTask(ckpt, data["train"], data["valid"])
    with common.training_run(out, resume=True):
        print(f"resuming the run in {out}")
        history = common.train_task(task, train_config, out, resume=True)
        if history is not None:
            finish_training(out, ckpt, parts["test"], history, RECIPES.get(record.get("recipe")))


def finish_training(
    out: Path,
    ckpt: TranslatorCheckpoint,
    test: list[Pair],
    history: list[dict[str, Any]] | None,
    recipe: Recipe | None,
) -> None:
    """Evaluate the best model on the test pairs, if any, and say what to try next."""
    result = None
    if test:
        result = evaluate_pairs(
            ckpt, test, ckpt.translate_config.beam, ckpt.train_config.eval_batch
        )
        common.append_metrics(out, {"event": "test", **result.as_dict()})
        print(f"test: {summary(result)}")
    print(f"\nsaved to {out}; try: elman translate predict --model {out} FILE")
    if recipe is not None:
        minutes = history[-1]["seconds"] / 60 if history else 0.0
        figure = summary(result) if result is not None else "no test part"
        print(
            f"recipe {recipe.name}: {figure} after {minutes:.1f} minutes of training; "
            f"published: {recipe.published}"
        )


def evaluate_pairs(
    ckpt: TranslatorCheckpoint, pairs: list[Pair], beam: int, batch: int
) -> TranslationEvaluation:
    data = encode_pairs(ckpt, pairs)
    return evaluate(ckpt.model, data, [p.target for p in pairs], ckpt.target, beam, batch)


def summary(result: TranslationEvaluation) -> str:
    """A result in one line."""
    if result.bleu is not None:
        bleu = f"BLEU {result.bleu:.2f} (tokenize {result.bleu_tokenize})"
    else:
        bleu = f"BLEU needs sacrebleu ({BLEU_EXTRA})"
    return (
        f"{result.sentences:,} sentences, beam {result.beam}: exact {result.exact:.4f}, {bleu}, "
        f"perplexity {result.perplexity:.3f} over {result.tokens:,} reference tokens"
    )


# Evaluation -------------------------------------------------------------------------------


def cmd_eval(args: argparse.Namespace) -> None:
    ckpt = checkpoint.load(args.model)
    beam = ckpt.translate_config.beam if args.beam is None else args.beam
    batch = ckpt.train_config.eval_batch if args.batch is None else args.batch
    check_beam(beam)
    if batch < 1:
        raise ElmanError(f"--batch must be a positive integer, got {batch}.")
    pairs = eval_pairs(args, ckpt)
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


def eval_pairs(args: argparse.Namespace, ckpt: TranslatorCheckpoint) -> list[Pair]:
    """The pairs to evaluate: --source/--target, or --data (in --format, by default the
    format the model was trained from) or the part --split of it."""
    if args.data is not None and args.source is not None:
        raise ElmanError("give --data or --source/--target, not both.")
    if args.data is None:
        if args.source is None or args.target is None:
            raise ElmanError("give the pairs to evaluate: --source and --target, or --data.")
        if args.split != "all":
            raise ElmanError("--split picks a part of --data; drop it with --source/--target.")
        return read_aligned(args.source, args.target)
    format = args.format or ckpt.translate_config.format
    pairs = read_data(args.data, format)
    if args.split == "all":
        return pairs
    record = ckpt.data.get("split")
    if not isinstance(record, dict) or "fingerprint" not in record:
        raise ElmanError(
            "the model was not trained on a split --data file; evaluate a file with --split all."
        )
    if record["fingerprint"] != fingerprint(pairs):
        raise ElmanError(
            f"{args.data} is not the data the model was split from ({record.get('file')}, "
            f"{record.get('pairs')} pairs); give that file, or use --split all."
        )
    parts = split(pairs, record["valid_fraction"], record["test_fraction"], record["seed"])
    return parts[PARTS.index(args.split)]


# Prediction -------------------------------------------------------------------------------


def cmd_predict(args: argparse.Namespace) -> None:
    ckpt = checkpoint.load(args.model)
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
    # Every line is checked before any is translated: a bad line stops nothing half-done.
    sources = [
        None
        if common.is_blank(line)
        else source_ids(line, ckpt.source, config.reverse_source, f"{name} line {n}")
        for n, line in enumerate(lines, 1)
    ]
    for start in range(0, len(lines), args.batch):
        rows = range(start, min(start + args.batch, len(lines)))
        chunk = [i for i in rows if sources[i] is not None]
        found = translate_ids(
            ckpt.model,
            [sources[i] for i in chunk],
            ckpt.target.eos_id,
            beam,
            config.length_penalty,
            config.max_ratio,
            config.max_extra,
            args.batch,
        )
        answers = dict(zip(chunk, found, strict=True))
        for i in rows:
            if i not in answers:
                print()  # a blank line is answered with a blank line
                continue
            text = ckpt.target.decode(answers[i].ids.tolist())
            if args.json:
                record = {
                    "source": lines[i].strip(),
                    "translation": text,
                    "log_prob": answers[i].log_prob,
                    "finished": answers[i].finished,
                }
                print(dumps(record, ensure_ascii=False))
            else:
                print(text)
            if args.show_attention is not None:
                write_attention(args.show_attention, i + 1, ckpt, lines[i], answers[i])
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


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``elman translate`` with its train, eval and predict commands."""
    commands = common.add_family(
        subparsers,
        "translate",
        help="many-to-many with delay: read a sentence, write its translation",
        description="Sequence to sequence: an encoder-decoder with attention.",
    )
    defaults = common.defaults_text(TRANSLATE_MODEL, TRANSLATE_TRAIN)
    recipes = ", ".join(r.name for r in RECIPES.values() if r.command == "translate train")

    p = commands.add_parser(
        "train",
        help="train a translator",
        description="Train a translator on sentence pairs: two line-aligned files (--source, "
        "--target), or one file of source<TAB>target lines (--data; --format qa for the "
        "book's question_answer lines), split into training, validation and test parts "
        "after a seeded shuffle that the checkpoint records. Defaults here, over the ones "
        f"listed below: {defaults}.",
    )
    p.add_argument("--source", metavar="FILE", help="source sentences, one per line")
    p.add_argument("--target", metavar="FILE", help="their translations, line by line")
    p.add_argument("--valid-source", metavar="FILE", help="validation sources")
    p.add_argument("--valid-target", metavar="FILE", help="validation translations")
    p.add_argument("--test-source", metavar="FILE", help="test sources, evaluated at the end")
    p.add_argument("--test-target", metavar="FILE", help="test translations")
    p.add_argument("--data", metavar="FILE", help="instead: one pair per line, split")
    p.add_argument(
        "--recipe",
        metavar="NAME",
        help=f"start from a recipe's settings ({recipes}; see elman recipes); flags given "
        "override them",
    )
    configs = (ModelConfig, TranslateConfig, TrainConfig)
    common.add_training_flags(p, "translate train", "translate", configs)
    common.declare(
        p,
        cmd_train,
        common.WRITES_FILES,
        "choose smaller sizes (--hidden, --embed, --layers, --batch, --eval-batch, --beam)",
    )

    p = commands.add_parser(
        "eval",
        help="perplexity, exact matches and BLEU",
        description="Evaluate a translator on sentence pairs: the perplexity of the "
        "reference translations (each <eos> counted), the fraction of translations equal to "
        f"their reference, and corpus BLEU (sacreBLEU, 0-100; {BLEU_EXTRA}).",
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
    common.declare(p, cmd_eval, common.WRITES_OUTPUT, "choose a smaller --beam or --batch")

    p = commands.add_parser(
        "predict",
        help="translate sentences, one per line",
        description="Translate each line, printing one translation per line as each batch "
        "is ready (a blank line is answered with a blank line).",
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
    common.declare(p, cmd_predict, common.WRITES_FILES, "choose a smaller --beam or --batch")


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
