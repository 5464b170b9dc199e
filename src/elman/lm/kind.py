"""The language model as a kind of model: what its runs read (texts, or label<TAB>text
lines, or texts with a vector per line), what they build and how they finish
(``elman.runs``), and ``train``, the Python entry point of a run.

Inputs, by role (the flags of ``elman train``): ``train``, ``valid``, ``test`` (texts),
or ``data`` (a directory holding train.txt, valid.txt and test.txt, or one text split
into its first 90% and last 10%); with a label condition, label<TAB>text files (``data``
split as the classifier splits it); with a vector condition, each text's ``vectors``,
``valid_vectors``, ``test_vectors``. No text at all: the built-in Tiny Shakespeare,
split 90/10. ``init``: a trained language model to start from (fine-tuning).

A text is held in memory as its token ids, in the smallest integer type that holds the
vocabulary (``ids_dtype``), the text itself read a piece at a time. A prepared corpus
(``elman prepare``; ``--train corpus/``, ``--data corpus/``) is read from a memory map of
its ids, and so is a text file above ``elman.prepare.prepare_above()`` (100 MB), which a
run prepares into the cache first (``elman.prepare.cached``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from elman import runs
from elman.checkpoint import read_config
from elman.config import SplitConfig, TokenizerConfig, TrainConfig, extended
from elman.data.corpus import tiny_shakespeare
from elman.data.labeled import Example, fingerprint, read_labeled, stratified_split
from elman.data.prepared import (
    PreparedCorpus,
    Source,
    is_prepared,
    open_corpus,
    part_named,
    scan,
)
from elman.data.text import read_text, split_text
from elman.data.tokenizers import TextCounts, Tokenizer, line_chunks
from elman.errors import ElmanError
from elman.lm import checkpoint
from elman.lm.checkpoint import Checkpoint
from elman.lm.conditioned import ConditionConfig, ConditionedLanguageModel
from elman.lm.config import LanguageModelConfig, LanguageModelTrainConfig
from elman.lm.data import Part, label_id, labelled_part, vector_part
from elman.lm.evaluate import evaluate_ids
from elman.lm.generate import generate
from elman.lm.model import GROWN_BIAS, LanguageModel, check_memory, fine_tuned
from elman.lm.ngram import CharNgram
from elman.lm.recipes import RECIPES
from elman.lm.task import LanguageModelTask, check_ids
from elman.metrics import perplexity
from elman.prepare import Bar, cached, check_growable, fitted, grown, large

PARTS = ("train", "valid", "test")
FROM_DATA = ("vocab_size", "grown_from")  # the model settings its vocabulary sets
TOKENIZER_FIELDS = {f.name for f in dataclasses.fields(TokenizerConfig)}
VECTORS = {"train": "vectors", "valid": "valid_vectors", "test": "test_vectors"}
SPLIT = 0.9  # one text (and the built-in corpus): its first 90% trains, the last 10% validates
# Settings for `elman train` on the built-in corpus: a character-level model that trains
# in about two minutes on two cores (a tanh RNN of 512 units reads about 70,000
# characters a second on two cores, so it sees the 1M-character corpus about 7 times).
# Each training stream restarts from a zero state every 16 chunks (1,024 characters),
# two of the 32 at each step: without that, the first epoch's only cold starts are at
# step 1, and by step 300 the grown W_h gives the tanh RNN a second regime, one its
# output layer was never fit to, which some held-out streams started cold fall into
# (perplexity in the thousands; docs/evaluation.md).
BUILTIN: dict[str, Any] = {
    "hidden": 512,
    "level": "char",
    "epochs": 10,
    "max_minutes": 2.0,
    "restart_every": 16,
}


@dataclass
class LanguageModelData:
    """The parts a run reads (None where there is none) and its record."""

    parts: dict[str, Part | None]
    record: dict[str, Any] = field(default_factory=dict)
    builtin: bool = False  # the built-in corpus
    init: str | None = None  # a new run's --init: the language model it starts from
    # Each part's ids and counts, once encoded with the model's vocabulary (``encoded``).
    ids: dict[str, tuple[np.ndarray, TextCounts]] = field(default_factory=dict)

    def encoded(self, role: str, tokenizer: Tokenizer) -> tuple[np.ndarray, TextCounts]:
        """The ids of part ``role`` (a text's, in the smallest type that holds them; a
        prepared part's from its memory map) and what they write (``TextCounts``); a
        text too large for memory is prepared into the cache first, with its fellows."""
        if role not in self.ids:
            part = self.parts[role]
            if part.source is not None:
                self._prepare(tokenizer)
                part = self.parts[role]
            self.ids[role] = part.encoded(tokenizer)
            if part.text is not None and part.conditions is None and not self.ngram_order:
                self.parts[role] = dataclasses.replace(part, text=None)  # only its ids are kept
        return self.ids[role]

    @property
    def ngram_order(self) -> int:
        """The order of the character n-gram model the run's recipe scores at the end on
        the texts themselves (which are then kept); 0: none."""
        recipe = RECIPES.get(self.record.get("recipe", ""))
        return 0 if recipe is None else recipe.char_ngram

    def _prepare(self, tokenizer: Tokenizer) -> None:
        """The parts that are large texts, prepared into the cache (``elman.prepare``)."""
        sources = {role: p.source for role, p in self.parts.items() if p and p.source}
        corpus = cached(sources, tokenizer)
        for role in sources:
            self.parts[role] = Part(None, prepared=corpus.parts[role], corpus=corpus)


class LanguageModelKind(runs.KindBase):
    """``elman.runs.Kind`` for the language model, plain or conditioned."""

    name = checkpoint.KIND
    checkpoint = checkpoint
    command = "train"
    roles = {
        "train": "training text (UTF-8), or a prepared corpus (elman prepare: its directory, "
        "whose train part is read, or one of its PART.bin files); default: the built-in corpus",
        "valid": "validation text, evaluated after each epoch (or a prepared corpus: its valid "
        "part)",
        "test": "test text, evaluated once at the end (or a prepared corpus: its test part)",
        "data": "instead of --train/--valid/--test: a directory holding train.txt, valid.txt "
        "and test.txt, or one text file split into its first 90%% (train) and last 10%% "
        "(validation), or a prepared corpus with its parts",
        "vectors": "--condition vector: one vector per line of --train (a NumPy .npy array)",
        "valid_vectors": "--condition vector: one vector per line of --valid",
        "test_vectors": "--condition vector: one vector per line of --test",
        "init": "fine-tune: start from the weights of a trained language model (its --out "
        "directory), with its shape and vocabulary; tokens of the new text it lacks count "
        "as <unk>, or are added with --grow-vocab",
    }
    sections = {
        "model": LanguageModelConfig,
        "tokenizer": TokenizerConfig,
        "train": LanguageModelTrainConfig,
        "condition": ConditionConfig,
    }
    variants = {"on the built-in corpus": BUILTIN}
    recipes = RECIPES

    def defaults_for(self, inputs: runs.Inputs) -> dict[str, Any]:
        init = inputs.get("init")
        if init is not None:  # the model's own shape and level
            config = read_config(init)
            if config.get("kind") != self.name:
                raise ElmanError(
                    f"--init {init} holds a {config.get('kind')} checkpoint; a language model "
                    "is fine-tuned from a language model's (the --out of elman train)."
                )
            shape = {k: v for k, v in config.get("model", {}).items() if k not in FROM_DATA}
            level = config.get("tokenizer", {}).get("level", "char")
            return {**shape, "level": level}
        builtin = inputs.get("train") is None and inputs.get("data") is None
        return BUILTIN if builtin else {}

    def check_flags(self, given: set[str], inputs: runs.Inputs) -> None:
        """A prepared corpus has its vocabulary: refuse settings of another."""
        corpus = next((inputs[r] for r in ("train", "data") if _prepared(inputs.get(r))), None)
        fixed = sorted(given & TOKENIZER_FIELDS)
        if corpus is not None and fixed and inputs.get("init") is None:
            flag = "--" + fixed[0].replace("_", "-")
            raise ElmanError(
                f"{corpus} was prepared with its vocabulary, so {flag} cannot change it; drop "
                f"{flag}, or prepare the corpus again with it (elman prepare {flag} ...)."
            )

    # Reading -----------------------------------------------------------------------

    def read(
        self, inputs: runs.Inputs, settings: runs.Settings, resuming: bool = False
    ) -> LanguageModelData:
        data = self._read(inputs, settings, resuming)
        if settings["condition"].condition != "vector":  # a vector model's lines need theirs
            data.record["examples"] = examples_of(data)
        return data

    def _read(
        self, inputs: runs.Inputs, settings: runs.Settings, resuming: bool
    ) -> LanguageModelData:
        condition: ConditionConfig = settings["condition"]
        given = {role: value for role, value in inputs.items() if value is not None}
        init = given.pop("init", None)
        if settings["train"].grow_vocab and init is None and not resuming:
            raise ElmanError(
                "--grow-vocab adds a new text's tokens to the vocabulary of the model --init "
                "starts from; give --init DIR, or leave --grow-vocab out."
            )
        vectors = [VECTORS[p] for p in PARTS if VECTORS[p] in given]
        if vectors and condition.condition != "vector":
            raise ElmanError("--vectors gives a vector condition; add --condition vector.")
        texts = [role for role in PARTS if role in given]
        if "data" in given and texts:
            raise ElmanError(
                f"--data replaces --train, --valid and --test; give --data or --{texts[0]}."
            )
        if condition.conditioned:
            for role, value in given.items():
                if _prepared(value):
                    raise ElmanError(
                        f"--{role} {value} is a prepared corpus, which holds text alone, and "
                        f"--condition {condition.condition} reads a condition with each line; "
                        "give the text files."
                    )
            if init is not None:
                raise ElmanError(
                    "--init fine-tunes a plain language model; a conditioned one is trained "
                    "from the start (leave --init out)."
                )
        if condition.condition == "label":
            return read_labelled(given, condition)
        if condition.condition == "vector":
            size = condition.condition_size if resuming else None
            return read_with_vectors(given, size)
        if "data" in given:
            data = read_data(given["data"])
        elif "train" not in given:
            if "valid" in given:
                raise ElmanError(
                    "--valid needs --train; without --train the built-in corpus is split 90/10."
                )
            train, valid = split_text(tiny_shakespeare(), SPLIT)
            record = {"inputs": {"train": {"path": None, "sha256": runs.text_digest(train),
                                           "builtin": True}}}  # fmt: skip
            parts = {"train": Part(train), "valid": Part(valid), "test": None}
            if "test" in given:
                parts["test"], record["inputs"]["test"] = _part(given["test"], "test")
            data = LanguageModelData(parts, record, builtin=True)
        else:
            parts, record = {}, {"inputs": {}}
            for role in PARTS:
                parts[role] = None
                if role in given:
                    parts[role], record["inputs"][role] = _part(given[role], role)
            data = LanguageModelData(parts, record)
        if init is not None:
            data.record["inputs"]["init"] = {"path": os.path.abspath(init), "sha256": None}
            data.init = None if resuming else os.fspath(init)
        return data

    # Building ----------------------------------------------------------------------

    def build(self, data: LanguageModelData, settings: runs.Settings) -> Checkpoint:
        if data.init is not None:
            return self._fine_tune(data, settings)
        train = data.parts["train"]
        tokenizer_config: TokenizerConfig = settings["tokenizer"]
        if train.corpus is not None:  # its vocabulary, and how it was made
            tokenizer = train.corpus.tokenizer
            tokenizer_config = _tokenizer_config(train.corpus)
        elif train.source is not None:  # counted a piece at a time, as fit counts a text
            bar = Bar()
            try:
                tokenizer = fitted(tokenizer_config, train.source, bar)
            finally:
                bar.close()
        else:
            tokenizer = tokenizer_config.fit(train.text)
        config = dataclasses.replace(settings["model"], vocab_size=len(tokenizer))
        check_memory(config)
        seed, condition = settings["train"].seed, settings["condition"]
        if not condition.conditioned:
            model = LanguageModel(config, seed=seed)
        else:
            if condition.condition == "vector":
                size = train.conditions.shape[1]
                condition = dataclasses.replace(condition, condition_size=size)
            labels = len(data.record.get("labels", []))
            model = ConditionedLanguageModel(config, condition, labels, seed=seed)
        return Checkpoint(model, tokenizer, settings["train"], tokenizer_config=tokenizer_config)

    def _fine_tune(self, data: LanguageModelData, settings: runs.Settings) -> Checkpoint:
        """A new run from the weights of the language model in ``data.init``: its shape
        (the dropout may change), its vocabulary, grown by the training text's new tokens
        with --grow-vocab (``fine_tuned``)."""
        base = checkpoint.load(data.init)
        if base.condition.conditioned:
            raise ElmanError(
                f"--init {data.init} is a language model conditioned on a "
                f"{base.condition.condition}; fine-tune a plain one (or train a new run)."
            )
        config: LanguageModelConfig = settings["model"]
        _check_shape(base.model.config, config, data.init)
        tokenizer, train_config = base.tokenizer, settings["train"]
        if train_config.grow_vocab:
            check_growable(tokenizer, f"--init {data.init}")
            tokenizer = _grown_vocabulary(data, tokenizer, settings["tokenizer"])
        config = dataclasses.replace(config, vocab_size=len(tokenizer),
                                     grown_from=base.model.config.grown_from)  # fmt: skip
        check_memory(config)
        model = fine_tuned(base.model, config, train_config.seed)
        data.record["init"] = {"vocab_size": len(base.tokenizer), "grown": len(tokenizer)}
        tokenizer_config = dataclasses.replace(settings["tokenizer"], level=tokenizer.level)
        return Checkpoint(model, tokenizer, train_config, tokenizer_config=tokenizer_config)

    def describe(self, ckpt: Checkpoint, data: LanguageModelData) -> list[str]:
        tokenizer = ckpt.tokenizer
        lines = [
            f"vocabulary: {len(tokenizer):,} {ckpt.tokenizer_config.level} tokens; model: "
            f"{ckpt.model.flat_params.size:,} parameters"
        ]
        if data.builtin:
            lines.append("training on the built-in Tiny Shakespeare corpus (first 90% train, "
                         "last 10% validation)")  # fmt: skip
        if data.init is not None:
            before = data.record["init"]["vocab_size"]
            lines.append(f"fine-tuning the language model in {data.init}")
            if len(tokenizer) > before:
                lines.append(
                    f"its vocabulary grew from {before:,} to {len(tokenizer):,} tokens: the "
                    f"training text's new {tokenizer.unit}, each with a small embedding row "
                    f"and output column of its own and an output bias of {GROWN_BIAS:g}"
                )
        for name, role in (("training", "train"), ("validation", "valid"), ("test", "test")):
            if data.parts[role] is None or (role == "train" and data.init is None):
                continue
            unknown = data.encoded(role, tokenizer)[1].unknown
            if unknown:
                grow = " (--grow-vocab adds them)" if role == "train" else ""
                lines.append(
                    f"{name} text: {unknown:,} tokens are not in the "
                    f"{'model' if data.init else 'training'} vocabulary and count as <unk>{grow}"
                )
        return lines

    def task(self, ckpt: Checkpoint, data: LanguageModelData) -> LanguageModelTask:
        train, valid = data.parts["train"], data.parts["valid"]
        train_ids, _ = data.encoded("train", ckpt.tokenizer)
        valid_ids, valid_counts = (None, None) if valid is None else data.encoded(
            "valid", ckpt.tokenizer)  # fmt: skip
        check_ids(train_ids, valid_ids, ckpt.train_config)
        conditions = None
        if train.conditions is not None:
            conditions = (train.conditions, None if valid is None else valid.conditions)
        return LanguageModelTask(ckpt, train_ids, valid_ids, conditions, valid_counts)

    # Finishing ---------------------------------------------------------------------

    def finish(
        self, ckpt: Checkpoint, data: LanguageModelData, say: Callable[[str], None]
    ) -> dict | None:
        """The test text's perplexity, if any; a sample (one per label of a label model)."""
        model, tokenizer, config = ckpt.model, ckpt.tokenizer, ckpt.train_config
        test, figures = data.parts["test"], None
        if test is not None:
            ids, counts = data.encoded("test", tokenizer)
            result = evaluate_ids(model, ids, config.eval_batch, config.bptt, tokenizer.eos_id,
                                  test.conditions, config.threads, counts)  # fmt: skip
            figures = result.as_dict()
            say(
                f"test perplexity {result.perplexity:.2f} per token, {result.bits_per_char:.4f} "
                f"bits per character ({result.loss:.4f} nats/token, {result.tokens:,} tokens "
                f"scored, {result.unknown:,} of them <unk>, state {model.config.state})"
            )
            train, order = data.parts["train"], data.ngram_order
            in_memory = train is not None and train.text is not None and test.text is not None
            if order and in_memory:
                say(f"counting the training text's {order}-grams of characters ...")
                ngram = CharNgram(train.text, order)
                figures["char_ngram_bits_per_char"] = ngram.bits_per_char(test.text)
                say(
                    f"the character {order}-gram count model on the same test text: "
                    f"{figures['char_ngram_bits_per_char']:.4f} bits per character"
                )
        say("sample:")
        if ckpt.condition.condition == "label":
            for label in ckpt.labels[:5]:
                condition = label_id(ckpt.labels, label)
                line = generate(model, tokenizer, "", tokenizer.sample_length, seed=config.seed,
                                condition=condition, stop_at_line_end=True)  # fmt: skip
                say(f"{label}\t{line}")
        elif ckpt.condition.condition != "vector":
            say(generate(model, tokenizer, "", tokenizer.sample_length, seed=config.seed))
        return figures

    def headline(self, test: dict | None, history: list[dict[str, Any]]) -> str:
        valid = [r for r in history if "valid_loss" in r]
        if test is not None:
            ngram = test.get("char_ngram_bits_per_char")
            beside = "" if ngram is None else f" (character n-gram count model: {ngram:.4f})"
            return (
                f"test perplexity {test['perplexity']:.2f} per token, "
                f"{test['bits_per_char']:.4f} bits per character{beside}"
            )
        if not valid:
            return "no held-out figure"
        best = min(valid, key=lambda r: r["valid_loss"])
        loss, bits = best["valid_loss"], best.get("valid_bits_per_char")
        per_char = "" if bits is None else f", {bits:.4f} bits per character"
        return (
            f"validation loss {loss:.4f} nats/token (perplexity {perplexity(loss):.2f}{per_char})"
        )

    def save(self, directory: Path, ckpt: Checkpoint) -> None:
        checkpoint.save_checkpoint(directory, ckpt)


KIND = LanguageModelKind()


# Reading the inputs ----------------------------------------------------------------------


def examples_of(data: LanguageModelData) -> list[dict[str, Any]]:
    """A few held-out lines for the playground (``runs.examples``), with their labels for
    a label-conditioned model."""
    part = runs.held_out(data.parts)
    if part is None or part.text is None:  # none, or a prepared part not held in memory
        return []
    lines = part.text.split("\n")
    if part.conditions is None:
        return runs.examples(lines)
    names = data.record["labels"]
    return runs.examples(lines[: len(part.conditions)], [names[k] for k in part.conditions])


def read_data(path: Any) -> LanguageModelData:
    """--data: a directory with train.txt, valid.txt and test.txt, or one file to split; or
    a prepared corpus, with its parts."""
    path = Path(path)
    if is_prepared(path) and path.is_dir():
        corpus = open_corpus(path)
        if "train" not in corpus.parts:
            corpus.part("train", path)  # says so
        parts = {role: _prepared_part(corpus, role) for role in PARTS}
        digest = _combined({role: part.prepared.sha256 for role, part in parts.items() if part})
        return LanguageModelData(parts, {"inputs": {"data": runs.input_record(path, digest)}})
    if path.is_dir():
        files = {role: path / f"{role}.txt" for role in PARTS}
        missing = [f.name for f in files.values() if not f.is_file()]
        if missing:
            raise ElmanError(
                f"--data {path} should hold train.txt, valid.txt and test.txt, but "
                f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing; add "
                "them, or give one text file to split 90/10."
            )
        if large(list(files.values())):
            sources = _scanned({role: [f] for role, f in files.items()})
            digest = _combined({role: s.sha256 for role, s in sources.items()})
            parts = {role: Part(None, source=s) for role, s in sources.items()}
            return LanguageModelData(parts, {"inputs": {"data": runs.input_record(path, digest)}})
        texts = {role: read_text(f) for role, f in files.items()}
        digest = runs.text_digest("".join(f"{len(t)}:{t}" for t in texts.values()))
        record = {"inputs": {"data": runs.input_record(path, digest)}}
        return LanguageModelData(_parts(*texts.values()), record)
    if path.is_file():
        if large([path]):
            source = _scanned({"data": [path]})["data"]
            train, valid = source.split(SPLIT)
            parts = {"train": Part(None, source=train), "valid": Part(None, source=valid),
                     "test": None}  # fmt: skip
            record = {"inputs": {"data": runs.input_record(path, source.sha256)}, "split": SPLIT}
            return LanguageModelData(parts, record)
        text = read_text(path)
        train, valid = split_text(text, SPLIT)
        record = {"inputs": {"data": runs.input_record(path, runs.text_digest(text))},
                  "split": SPLIT}  # fmt: skip
        return LanguageModelData(_parts(train, valid, None), record)
    raise ElmanError(
        f"--data {path} does not exist; give a directory holding train.txt, valid.txt and "
        "test.txt, or one text file to split 90/10."
    )


def _part(given: Any, role: str) -> tuple[Part, dict[str, Any]]:
    """One input (``role``): a text in memory (``runs.Text``), a prepared corpus's part
    (``corpus/``: its part ``role``; ``corpus/PART.bin``: that part), a text file too large
    to hold in memory (prepared into the cache once the vocabulary is known), or a text
    file; with its record (path and sha256)."""
    if isinstance(given, runs.Text):
        return Part(given.text), runs.input_record(given, runs.text_digest(given.text))
    if _prepared(given):
        corpus = open_corpus(given)
        part = _prepared_part(corpus, part_named(given) or role, given)
        return part, runs.input_record(given, part.prepared.sha256)
    if large([given]):
        source = _scanned({role: [given]})[role]
        return Part(None, source=source), runs.input_record(given, source.sha256)
    text = read_text(given)
    return Part(text), runs.input_record(given, runs.text_digest(text))


def _prepared(given: Any) -> bool:
    return isinstance(given, (str, os.PathLike)) and is_prepared(given)


def _prepared_part(corpus: PreparedCorpus, role: str, given: Any = None) -> Part | None:
    """Part ``role`` of a prepared corpus: refused when it has none and it was asked for
    (``given``), else None."""
    if role not in corpus.parts and given is None:
        return None
    return Part(None, prepared=corpus.part(role, given), corpus=corpus)


def _scanned(files: dict[str, list[Any]]) -> dict[str, Source]:
    """Large text files read through once for their sha256, a bar showing how far."""
    bar = Bar()
    bar.start("reading (sha256)", sum(os.path.getsize(f) for paths in files.values()
                                      for f in paths))  # fmt: skip
    try:
        return {role: scan(paths, bar) for role, paths in files.items()}
    finally:
        bar.close()


def _combined(digests: dict[str, str]) -> str:
    """One sha256 for several parts' sha256, by role."""
    lines = "".join(f"{role}:{digest}\n" for role, digest in sorted(digests.items()))
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()


def _check_vocabulary(part: Part, tokenizer: Tokenizer) -> None:
    """Refuse a prepared part whose ids are of another vocabulary than the model's."""
    part.corpus.check_vocabulary(tokenizer, part.prepared.path)


def _tokenizer_config(corpus: PreparedCorpus) -> TokenizerConfig:
    """How a prepared corpus's vocabulary was fitted (its level alone, when it was not)."""
    fitted = corpus.header.get("made", {}).get("fitted")
    if isinstance(fitted, dict):
        try:
            return TokenizerConfig(**fitted)
        except (TypeError, ElmanError):
            pass
    return TokenizerConfig(level=corpus.tokenizer.level)


def _check_shape(init: LanguageModelConfig, given: LanguageModelConfig, where: str) -> None:
    """Refuse a shape setting that differs from the model --init starts from (the dropout
    may change)."""
    for f in dataclasses.fields(LanguageModelConfig):
        if f.name in FROM_DATA or f.name in ("dropout", "dropout_kind"):
            continue
        if getattr(init, f.name) != getattr(given, f.name):
            flag = "--" + f.name.replace("_", "-")
            raise ElmanError(
                f"--init {where} has {flag} {getattr(init, f.name)}, and a fine-tuned model "
                f"keeps its shape; drop {flag} {getattr(given, f.name)}."
            )


def _grown_vocabulary(
    data: LanguageModelData, tokenizer: Tokenizer, config: TokenizerConfig
) -> Tokenizer:
    """``tokenizer`` grown by the training text's new tokens (``Tokenizer.grown``); a
    prepared corpus must hold ids of it grown already (elman prepare --grow-vocab)."""
    train = data.parts["train"]
    if train.corpus is not None:
        theirs = train.corpus.tokenizer
        if theirs.tokens[: len(tokenizer)] != tokenizer.tokens or type(theirs) is not type(
            tokenizer
        ):
            _check_vocabulary(train, tokenizer)  # says so
        if theirs == tokenizer:
            raise ElmanError(
                f"{train.prepared.path} was prepared with the vocabulary of --init {data.init} "
                "as it is, so the text's new tokens are <unk> in it already; prepare it with "
                f"elman prepare --vocab {data.init} --grow-vocab, or leave --grow-vocab out."
            )
        return theirs
    if train.source is not None:
        bar = Bar()
        try:
            return grown(tokenizer, train.source, config, bar)
        finally:
            bar.close()
    tally = tokenizer.tally()
    for chunk in line_chunks(train.text):
        tally.add(tokenizer.prepare(chunk))
    return tokenizer.grown(tally.counts(), config.min_count, config.max_vocab)


def read_labelled(given: dict[str, Any], condition: ConditionConfig) -> LanguageModelData:
    """label<TAB>text files: --data split as the classifier splits it (stratified, seeded),
    or --train with --valid and --test; the labels are the training part's, sorted."""
    if "train" not in given and "data" not in given:
        raise ElmanError(
            "--condition label needs --train FILE (label<TAB>text lines) or --data FILE."
        )
    main = "data" if "data" in given else "train"
    examples = _examples(given[main])
    held_out = {role: _examples(given[role]) for role in ("valid", "test") if role in given}
    split = condition if main == "data" else SplitConfig(0.0, 0.0, condition.split_seed)
    fractions = {
        role: 0.0 if role in held_out else getattr(split, f"{role}_fraction")
        for role in ("valid", "test")
    }
    rows = stratified_split([e.label for e in examples], fractions["valid"], fractions["test"],
                            split.split_seed)  # fmt: skip
    parts_examples = [[examples[i] for i in part] for part in rows]
    parts_examples[1] = held_out.get("valid", parts_examples[1])
    parts_examples[2] = held_out.get("test", parts_examples[2])
    labels = sorted({e.label for e in parts_examples[0]})
    inputs = {main: runs.input_record(given[main], fingerprint(examples))}
    for role, found in held_out.items():
        inputs[role] = runs.input_record(given[role], fingerprint(found))
    record = {
        "inputs": inputs,
        "labels": labels,
        "split": fractions,
        "split_seed": split.split_seed,
    }
    parts = {
        role: labelled_part(part, labels) if part else None
        for role, part in zip(PARTS, parts_examples, strict=True)
    }
    return LanguageModelData(parts, record)


def read_with_vectors(given: dict[str, Any], size: int | None) -> LanguageModelData:
    """Texts with their vectors, the training vectors first (they set the size)."""
    if "data" in given:
        raise ElmanError("a vector condition reads --train and --vectors; --data is for labels.")
    if "train" not in given:
        raise ElmanError("--condition vector needs --train FILE (text lines) or --data FILE.")
    parts: dict[str, Part | None] = {}
    record: dict[str, Any] = {"inputs": {}}
    for role in PARTS:
        text, vectors = given.get(role), given.get(VECTORS[role])
        if (text is None) != (vectors is None):
            flag = VECTORS[role].replace("_", "-")
            raise ElmanError(f"--{role} and --{flag} go together: one vector per line of the text.")
        if text is None:
            parts[role] = None
            continue
        part = vector_part(_text(text), vectors, size)
        size = part.conditions.shape[1]
        parts[role] = part
        record["inputs"][role] = runs.input_record(text, runs.text_digest(part.text))
        vector_digest = runs.text_digest(np.ascontiguousarray(part.conditions).tobytes().hex())
        record["inputs"][VECTORS[role]] = runs.input_record(vectors, vector_digest)
    return LanguageModelData(parts, record)


def _examples(given: Any) -> list[Example]:
    return list(given) if isinstance(given, list) else read_labeled(given)


def _text(given: Any) -> str | None:
    """A text given by path or in memory (``runs.Text``)."""
    if given is None:
        return None
    return given.text if isinstance(given, runs.Text) else read_text(given)


def _parts(train: str, valid: str | None, test: str | None) -> dict[str, Part | None]:
    return {
        role: None if text is None else Part(text)
        for role, text in zip(PARTS, (train, valid, test), strict=True)
    }


# The Python entry point ------------------------------------------------------------------


def train(
    model: LanguageModel,
    tokenizer: Tokenizer,
    train_text: str,
    valid_text: str | None = None,
    config: TrainConfig | None = None,
    out_dir: str | Path | None = None,
    progress: bool = True,
    resume: bool = False,
    catch_signals: bool = False,
    overwrite: bool = False,
) -> list[dict[str, Any]]:
    """Train ``model`` on ``train_text`` and return one record per epoch: a run as
    ``elman train`` makes one, the texts given in memory.

    After each epoch (and when a step or time limit stops training) the model is
    evaluated on ``valid_text``; when validation perplexity does not improve at an
    epoch's end (or, with ``decay_after``, at every epoch's end from then on) the
    learning rate is divided by ``config.lr_decay``. With ``out_dir`` (refused when it
    holds a run, unless ``overwrite``), the best model so far (by validation perplexity,
    or the latest without validation text) is saved there with the texts' fingerprints,
    metrics are appended to ``out_dir/metrics.jsonl`` and the training state to
    ``out_dir/resume.safetensors``: ``resume=True`` here (``config``'s limits raising the
    run's own), or ``elman train --resume out_dir --train FILE [--valid FILE]`` with files
    holding the same texts, continues it. ``catch_signals`` turns SIGINT and SIGTERM into a
    save and a ``TrainingInterrupted``. On return ``model`` holds the best weights seen.
    """
    texts = {"train": runs.Text(train_text)}
    if valid_text is not None:
        texts["valid"] = runs.Text(valid_text)
    if resume:
        if out_dir is None:
            raise ValueError("resuming needs the out_dir that holds the training state")
        limits = {name: getattr(config, name) for name in runs.RESUMABLE} if config else None
        run = runs.resume(out_dir, texts, limits, progress=progress,
                          catch_signals=catch_signals, model=model)  # fmt: skip
        return run.history
    config = extended(config or TrainConfig(), LanguageModelTrainConfig)
    settings = {
        "model": model.config,
        "tokenizer": TokenizerConfig(level=tokenizer.level),
        "train": config,
        "condition": getattr(model, "condition", ConditionConfig()),
    }
    ckpt = Checkpoint(model, tokenizer, config)
    run = runs.start(KIND, texts, settings, out_dir, overwrite, ckpt=ckpt, progress=progress,
                     catch_signals=catch_signals)  # fmt: skip
    return run.history
