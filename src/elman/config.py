"""The settings every kind shares, for the CLI, the trainer and checkpoints alike:
``ModelConfig`` (the recurrent stack), ``TokenizerConfig`` (how text becomes tokens),
``TrainConfig`` (the training loop) and ``SplitConfig`` (how one labelled file is split).

Every field has a default and a help text; the CLI's flags are generated from these
dataclasses (``--hidden`` is ``ModelConfig.hidden``), and checkpoints store them as
JSON sections. What only one kind uses lives in that kind's own config (a subclass of
``ModelConfig``, such as the language model's ``LanguageModelConfig``, or a dataclass
of its own, such as the classifier's ``ClassifierConfig``): a command offers exactly the
fields of the configs its kind declares.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from elman.data.tokenizers import (
    ALGORITHMS,
    TOKENIZERS,
    Tokenizer,
    make_tokenizer,
    make_tokenizer_from_chunks,
)
from elman.errors import ElmanError

CELLS = ("rnn", "rnn-relu", "lstm", "gru")
DROPOUT_KINDS = ("standard", "locked")
LEVELS = TOKENIZERS.keys()  # a live view: a tokenizer registered later is a level too
OPTIMIZERS = ("sgd", "adam")
NAN_POLICIES = ("stop", "rollback")
GEMMS = ("auto", "numpy", "mkl")


def field_help(text: str, **extra: Any) -> dict[str, Any]:
    """A field's metadata: its help text, and ``choices`` or ``cli=False``."""
    return {"help": text, **extra}


@dataclass
class ModelConfig:
    """The recurrent stack every kind builds on: what a checkpoint needs to rebuild it.
    A kind adds its own fields in a subclass (``elman.lm.model.LanguageModelConfig``,
    ``elman.blocks.encoder.EncoderConfig``, ...)."""

    vocab_size: int = field(
        default=0, metadata=field_help("number of tokens (set from the vocabulary)", cli=False)
    )
    embed: int = field(default=64, metadata=field_help("embedding size D"))
    hidden: int = field(
        default=256, metadata=field_help("hidden state size H of each recurrent layer")
    )
    cell: str = field(
        default="rnn",
        metadata=field_help("recurrent cell: tanh RNN, ReLU RNN, LSTM or GRU", choices=CELLS),
    )
    layers: int = field(default=1, metadata=field_help("number of stacked recurrent layers"))
    dropout: float = field(
        default=0.0,
        metadata=field_help(
            "probability of zeroing a unit on the embeddings, between layers and before the "
            "output layer, in training only (Zaremba et al. 2014)"
        ),
    )
    dropout_kind: str = field(
        default="standard",
        metadata=field_help(
            "standard: a fresh mask at every step; locked: one mask per sequence reused at "
            "every step (Gal & Ghahramani 2016)",
            choices=DROPOUT_KINDS,
        ),
    )

    def __post_init__(self) -> None:
        require_finite_fields(self)
        for name in ("embed", "hidden", "layers"):
            require_positive(name, getattr(self, name))
        if self.vocab_size < 0:
            raise ElmanError(f"vocab_size must be positive, got {self.vocab_size}.")
        require_choice("cell", self.cell, CELLS)
        require_choice("dropout_kind", self.dropout_kind, DROPOUT_KINDS)
        if not 0 <= self.dropout < 1:
            raise ElmanError(f"--dropout must be at least 0 and below 1, got {self.dropout}.")


@dataclass
class TokenizerConfig:
    """How text becomes tokens: the level and which tokens the vocabulary keeps
    (``elman.data.tokenizers``). A kind that reads words only (the tagger) offers the
    vocabulary's limits without the level."""

    level: str = field(
        default="char",
        metadata=field_help(
            "tokens: characters, whitespace-separated words, or subword pieces learned from "
            "the training text (sentencepiece)",
            choices=LEVELS,
        ),
    )
    max_vocab: int = field(
        default=0,
        metadata=field_help(
            "char and word levels: keep only the N most frequent training tokens, the rest "
            "become <unk> (0: keep all)"
        ),
    )
    min_count: int = field(
        default=1,
        metadata=field_help("char and word levels: tokens seen fewer times become <unk>"),
    )
    subword: str = field(
        default="",
        metadata=field_help(
            "--level subword: how the pieces are learned, the unigram language model (Kudo "
            "2018) or byte-pair encoding (Sennrich et al. 2016) (empty: unigram)",
            choices=ALGORITHMS,
        ),
    )
    vocab_size: int = field(
        default=0,
        metadata=field_help(
            "--level subword: the pieces to learn, <unk>, the line end and the 256 bytes "
            "included (0: 16000, or as many as the training text can give if fewer)"
        ),
    )

    def __post_init__(self) -> None:
        require_choice("level", self.level, LEVELS)
        if self.subword:
            require_choice("subword", self.subword, ALGORITHMS)
        for name in ("max_vocab", "vocab_size"):
            if getattr(self, name) < 0:
                value = getattr(self, name)
                raise ElmanError(f"--{_flag(name)} must be zero or positive, got {value}.")
        if self.min_count < 1:
            raise ElmanError(f"--min-count must be at least 1, got {self.min_count}.")
        self._check_tokenizer_settings()

    def _check_tokenizer_settings(self) -> None:
        """Refuse a tokenizer setting the level does not take (``Tokenizer.settings``):
        --subword for characters, --max-vocab for subword pieces, ..."""
        takes = TOKENIZERS[self.level].settings
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        for name in sorted({name for cls in TOKENIZERS.values() for name in cls.settings}):
            if name not in takes and getattr(self, name) != defaults[name]:
                levels = [level for level, cls in TOKENIZERS.items() if name in cls.settings]
                raise ElmanError(
                    f"--{_flag(name)} is a setting of --level {' and '.join(levels)}, and this "
                    f"run reads {self.level} tokens; drop --{_flag(name)} or use --level "
                    f"{levels[0]}."
                )

    def tokenizer_settings(self) -> dict[str, Any]:
        """The settings the level's tokenizer is fitted with (``make_tokenizer``)."""
        return {name: getattr(self, name) for name in TOKENIZERS[self.level].settings}

    def fit(self, text: str) -> Tokenizer:
        """The tokenizer of this level and these settings, fitted on training text."""
        return make_tokenizer(self.level, text, **self.tokenizer_settings())

    def fit_chunks(self, chunks: Iterable[str]) -> Tokenizer:
        """``fit`` on the text ``chunks`` make one after another, each ending at a line end
        (a text read a piece at a time: ``elman.data.prepared``): the same tokenizer."""
        return make_tokenizer_from_chunks(self.level, chunks, **self.tokenizer_settings())

    def fit_counts(self, counts: Counter[str]) -> Tokenizer:
        """``fit`` given the training text's token counts (``Tokenizer.count``'s of its
        pieces, added in order); for characters and words, whose vocabulary is made from
        counts alone."""
        return TOKENIZERS[self.level].fit_counts(counts, **self.tokenizer_settings())


@dataclass
class TrainConfig:
    """How to train: data, batching, optimiser and stopping rules."""

    batch: int = field(
        default=32, metadata=field_help("B, the number of parallel streams the corpus is cut into")
    )
    epochs: int = field(
        default=0,
        metadata=field_help(
            "passes over the training data (0: unlimited, stop by --max-steps or --max-minutes)"
        ),
    )
    max_steps: int = field(
        default=0, metadata=field_help("stop after this many updates (0: no limit)")
    )
    max_minutes: float = field(
        default=0.0, metadata=field_help("stop after this much training time (0: no limit)")
    )
    optimizer: str = field(default="adam", metadata=field_help("update rule", choices=OPTIMIZERS))
    lr: float = field(
        default=0.0, metadata=field_help("learning rate (0: 0.002 for adam, 1.0 for sgd)")
    )
    lr_decay: float = field(
        default=4.0,
        metadata=field_help(
            "divide the learning rate by this when validation perplexity stops improving, and "
            "after every epoch from --decay-after on (1: never)"
        ),
    )
    decay_after: int = field(
        default=0,
        metadata=field_help(
            "from the end of epoch N on, divide the learning rate by --lr-decay after every "
            "epoch, improved or not (Zaremba et al. 2014's schedule; 0: only on a plateau)"
        ),
    )
    average_after: int = field(
        default=0,
        metadata=field_help(
            "after epoch N, also keep the average of the weights over every later step "
            "(Polyak averaging, as in AWD-LSTM's averaged SGD); validation, the saved model "
            "and the test use the average (0: off)"
        ),
    )
    clip: float = field(
        default=1.0, metadata=field_help("clip the global gradient norm to this (0: no clipping)")
    )
    eval_batch: int = field(
        default=10, metadata=field_help("streams used to evaluate held-out text")
    )
    seed: int = field(default=0, metadata=field_help("seed for initialisation and sampling"))
    threads: int = field(
        default=0,
        metadata=field_help(
            "BLAS threads of the training steps on the NumPy engine (the torch backend keeps "
            "its own). 0: one or all, whichever runs faster, timed as training goes, so that "
            "other programs on the cores cannot slow it much; the two counts round "
            "differently, so two runs may then differ in their last bits. N: always N, for "
            "runs that repeat and resume bit for bit"
        ),
    )
    gemm: str = field(
        default="auto",
        metadata=field_help(
            "who computes the recurrent layers' products on the NumPy engine: numpy's "
            "matmul, or MKL's with each weight matrix packed once per sequence (install "
            "'elman[mkl]'); auto: MKL when installed and faster on this model, timed once "
            "at the start (with --threads N the choice is kept in the run, so it resumes "
            "bit for bit)",
            choices=GEMMS,
        ),
    )
    on_nan: str = field(
        default="stop",
        metadata=field_help(
            "when training diverges (a loss that is NaN, infinite, or over 3 times log V and "
            "over 30 nats): stop, or roll back to the last saved training "
            "state and continue with the learning rate divided by --lr-decay (or 2)",
            choices=NAN_POLICIES,
        ),
    )
    save_every: int = field(
        default=500,
        metadata=field_help(
            "save the training state for --resume every N steps, besides each epoch's end "
            "(0: at epochs' ends only)"
        ),
    )
    log_every: int = field(default=50, metadata=field_help("append training metrics every N steps"))

    def __post_init__(self) -> None:
        require_finite_fields(self)
        require_choice("optimizer", self.optimizer, OPTIMIZERS)
        require_choice("on_nan", self.on_nan, NAN_POLICIES)
        require_choice("gemm", self.gemm, GEMMS)
        for name in ("batch", "eval_batch", "log_every"):
            require_positive(name, getattr(self, name))
        limits = ("epochs", "max_steps", "max_minutes", "save_every")
        for name in (*limits, "lr", "clip", "decay_after", "average_after", "threads"):
            if getattr(self, name) < 0:
                raise ElmanError(
                    f"--{_flag(name)} must be zero or positive, got {getattr(self, name)}."
                )
        if self.seed < 0:
            raise ElmanError(f"--seed must be zero or positive, got {self.seed}.")
        if self.lr_decay < 1:
            raise ElmanError(
                f"--lr-decay must be at least 1 (1 means no decay), got {self.lr_decay}."
            )

    @property
    def learning_rate(self) -> float:
        """The learning rate in force: the one given, or the optimiser's usual default."""
        if self.lr > 0:
            return self.lr
        return {"adam": 0.002, "sgd": 1.0}[self.optimizer]


@dataclass
class SplitConfig:
    """How one file of labelled lines (``--data``) is split into training, validation
    and test parts, stratified by label and seeded, the same way by every command that
    reads such files (a classifier and a label-conditioned language model can share a
    split)."""

    valid_fraction: float = field(
        default=0.1,
        metadata=field_help(
            "part of --data held out for validation when no --valid is given",
        ),
    )
    test_fraction: float = field(
        default=0.2,
        metadata=field_help(
            "part of --data held out for testing when no --test is given",
        ),
    )
    split_seed: int = field(
        default=0,
        metadata=field_help(
            "seed of the stratified split of --data (recorded in the checkpoint)",
        ),
    )

    def __post_init__(self) -> None:
        require_finite_fields(self)
        for name in ("valid_fraction", "test_fraction"):
            value = getattr(self, name)
            if not 0 <= value < 1:
                raise ElmanError(f"--{_flag(name)} must be at least 0 and below 1, got {value}.")
        if self.valid_fraction + self.test_fraction >= 1:
            raise ElmanError(
                f"--valid-fraction and --test-fraction add up to "
                f"{self.valid_fraction + self.test_fraction}, leaving nothing to train on; "
                "make them smaller."
            )


C = TypeVar("C")


def extended(config: Any, cls: type[C]) -> C:
    """``config`` as ``cls``, a kind's own subclass of its config's class: itself when it
    is one, else its fields with ``cls``'s defaults for the rest (so that ``LanguageModel(
    ModelConfig(vocab_size=V))`` builds the default language model of that stack, and a
    ``TrainConfig`` trains it with the default chunks)."""
    if isinstance(config, cls):
        return config
    return cls(**dataclasses.asdict(config))


def from_dict(
    cls: type[C],
    values: dict[str, Any],
    where: str = "config",
    retired: dict[str, Any] | None = None,
) -> C:
    """Build a config from JSON values, refusing keys it does not know. ``retired`` maps
    settings an older format kept in this section to the value they held when unused:
    such a key is dropped when it holds that value (any other value is refused)."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values = {
        key: value
        for key, value in values.items()
        if key in fields or key not in (retired or {}) or retired[key] != value
    }
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ElmanError(
            f"{where} has unknown settings {unknown}; it was written by another version of elman."
        )
    for name, value in values.items():
        expected = type(fields[name].default)
        # JSON has one number type: an int is a fine float, but a bool is no int.
        fits = isinstance(value, expected) and not (
            isinstance(value, bool) and expected is not bool
        )
        if not fits and not (expected is float and type(value) is int):
            raise ElmanError(
                f"{where}: setting {name!r} is {value!r}, expected a {expected.__name__}; "
                "the file was edited by hand or damaged, fix or retrain it."
            )
    return cls(**values)


def _flag(name: str) -> str:
    return name.replace("_", "-")


def require_positive(name: str, value: int) -> None:
    if not isinstance(value, int) or value < 1:
        raise ElmanError(f"--{_flag(name)} must be a positive integer, got {value}.")


def require_finite(name: str, value: float) -> None:
    """Refuse NaN and infinity: no setting of elman means anything at either."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ElmanError(f"--{_flag(name)} must be a finite number, got {value}.")


def require_finite_fields(config: Any) -> None:
    """``require_finite`` for every float field of a config dataclass: the one check
    behind every float setting, whichever config it belongs to."""
    for f in dataclasses.fields(config):
        require_finite(f.name, getattr(config, f.name))


def require_choice(name: str, value: str, choices: Collection[str]) -> None:
    if value not in choices:
        raise ElmanError(f"--{_flag(name)} must be one of {', '.join(choices)}, got {value!r}.")
