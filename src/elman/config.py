"""The model and training settings, shared by the CLI, the trainer and checkpoints.

Every field has a default and a help text; the CLI's flags are generated from these
dataclasses (``--hidden`` is ``ModelConfig.hidden``), and checkpoints store them as
JSON. Later features add fields here, not new plumbing. A field that only some
commands use says which in its metadata (``kinds``: "lm", "classify", "tag", ...);
the other commands do not offer it.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, TypeVar

from elman.data.tokenizers import TOKENIZERS
from elman.errors import ElmanError
from elman.nn.adaptive_softmax import projection_size

CELLS = ("rnn", "rnn-relu", "lstm", "gru")
DROPOUT_KINDS = ("standard", "locked")
STATE_MODES = ("carry", "reset")
LEVELS = tuple(TOKENIZERS)
OPTIMIZERS = ("sgd", "adam")
NAN_POLICIES = ("stop", "rollback")
SOFTMAXES = ("full", "adaptive")
GEMMS = ("auto", "numpy", "mkl")


LM_ONLY = ("lm",)  # the language model's settings: its output layer, state and chunks
ENCODERS = ("classify", "tag", "translate")  # commands whose networks read whole sequences
GENERATORS = ("lm", "translate")  # commands whose networks write tokens (an output layer)


def field_help(text: str, **extra: Any) -> dict[str, Any]:
    """A field's metadata: its help text, and ``choices``, ``cli=False`` or ``kinds``."""
    return {"help": text, **extra}


@dataclass
class ModelConfig:
    """The network's shape: what a checkpoint needs to rebuild it."""

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
    tie: bool = field(
        default=False,
        metadata=field_help(
            "the output layer shares the embedding matrix (Press & Wolf 2017; Inan et al. "
            "2017); needs --embed equal to --hidden",
            kinds=GENERATORS,
        ),
    )
    bidirectional: bool = field(
        default=False,
        metadata=field_help(
            "read the sequence both ways (encoders only: a translator's source side, not a "
            "language model)",
            kinds=ENCODERS,
        ),
    )
    state: str = field(
        default="carry",
        metadata=field_help(
            "hidden state across lines: carry it on, or reset it at every line end "
            "(in training, evaluation and scoring alike)",
            choices=STATE_MODES,
            kinds=LM_ONLY,
        ),
    )
    softmax: str = field(
        default="full",
        metadata=field_help(
            "output layer: a full softmax over the vocabulary, or an adaptive softmax (Grave "
            "et al. 2017) that trains faster on large vocabularies and scores exactly",
            choices=SOFTMAXES,
            kinds=LM_ONLY,
        ),
    )
    cutoffs: str = field(
        default="",
        metadata=field_help(
            "adaptive softmax: increasing token ids, comma-separated, that split the "
            "frequency-ordered vocabulary into a shortlist and tail clusters "
            "(empty: V/5,V/2, i.e. 2000,5000 for a 10,000-word vocabulary)",
            kinds=LM_ONLY,
        ),
    )
    div_value: float = field(
        default=4.0,
        metadata=field_help(
            "adaptive softmax: tail cluster k projects H to H / div_value^(k+1) dimensions",
            kinds=LM_ONLY,
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
        require_choice("state", self.state, STATE_MODES)
        if not 0 <= self.dropout < 1:
            raise ElmanError(f"--dropout must be at least 0 and below 1, got {self.dropout}.")
        if self.tie and self.embed != self.hidden:
            # The output layer reads the top layer's H units (a decoder's too: a
            # translator's bidirectional encoder is not what its output layer reads).
            raise ElmanError(
                f"--tie shares the embedding matrix with the output layer, so --embed "
                f"({self.embed}) must equal --hidden ({self.hidden}); set --embed "
                f"{self.hidden} or drop --tie."
            )
        require_choice("softmax", self.softmax, SOFTMAXES)
        self._check_adaptive_softmax()

    def _check_adaptive_softmax(self) -> None:
        """The adaptive-softmax settings that do not depend on the vocabulary size."""
        if self.softmax != "adaptive":
            if self.cutoffs or self.div_value != 4.0:
                raise ElmanError(
                    "--cutoffs and --div-value shape the adaptive softmax; add "
                    "--softmax adaptive or leave them out."
                )
            return
        if self.tie:
            raise ElmanError(
                "--tie shares the embedding matrix with a full output layer, and the adaptive "
                "softmax has none (its head scores only the shortlist); drop --tie or use "
                "--softmax full."
            )
        cutoffs = parse_cutoffs(self.cutoffs)
        if not self.div_value >= 1:  # NaN too
            raise ElmanError(
                f"--div-value must be at least 1 (1: every tail cluster projects to H), got "
                f"{self.div_value}."
            )
        clusters = len(cutoffs) or 2  # the default cutoffs make two clusters
        if projection_size(self.hidden, self.div_value, clusters - 1) < 1:
            width = self.hidden / self.div_value**clusters
            raise ElmanError(
                f"with --hidden {self.hidden} and --div-value {self.div_value:g}, the last tail "
                f"cluster (of {clusters}) would project to {width:.2g} dimensions, below 1; "
                "lower --div-value or give fewer --cutoffs."
            )

    def adaptive_cutoffs(self) -> list[int]:
        """The adaptive softmax's cutoffs c_0 < ... < c_{K-1} < vocab_size: ``cutoffs``,
        or V // 5 and V // 2 when empty (2000 and 5000 for the Penn Treebank's 10,000
        words, where the 2000 most frequent cover 87% of the training tokens)."""
        V = self.vocab_size
        cutoffs = parse_cutoffs(self.cutoffs)
        if not cutoffs:
            if V < 5:
                raise ElmanError(
                    f"a vocabulary of {V} tokens is too small for the default --cutoffs "
                    "(V/5, V/2); give --cutoffs or use --softmax full."
                )
            return [V // 5, V // 2]
        if cutoffs[-1] >= V:
            raise ElmanError(
                f"--cutoffs {self.cutoffs} must all be below the vocabulary size {V}, so that "
                "every tail cluster holds a token; lower them or use a larger vocabulary."
            )
        return cutoffs

    @property
    def output_size(self) -> int:
        """Size of the top recurrent layer's output: H, or 2H when bidirectional."""
        return self.hidden * (2 if self.bidirectional else 1)


@dataclass
class TrainConfig:
    """How to train: data, batching, optimiser and stopping rules."""

    level: str = field(
        default="char",
        metadata=field_help(
            "tokens: characters or whitespace-separated words",
            choices=LEVELS,
            kinds=("lm", "classify", "translate"),
        ),
    )
    max_vocab: int = field(
        default=0,
        metadata=field_help(
            "keep only the N most frequent training tokens, the rest become <unk> (0: keep all)"
        ),
    )
    min_count: int = field(
        default=1, metadata=field_help("tokens seen fewer times in training become <unk>")
    )
    batch: int = field(
        default=32, metadata=field_help("B, the number of parallel streams the corpus is cut into")
    )
    bptt: int = field(
        default=64,
        metadata=field_help(
            "T, steps per chunk; gradients stop at chunk boundaries", kinds=LM_ONLY
        ),
    )
    restart_every: int = field(
        default=0,
        metadata=field_help(
            "--state carry: each stream also starts over from a zero state every N chunks, "
            "staggered so that about B/N streams restart at each chunk; the model then learns "
            "to start cold anywhere, as each evaluation stream does (0: only at each epoch's "
            "start)",
            kinds=LM_ONLY,
        ),
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
        require_choice("level", self.level, LEVELS)
        require_choice("optimizer", self.optimizer, OPTIMIZERS)
        require_choice("on_nan", self.on_nan, NAN_POLICIES)
        require_choice("gemm", self.gemm, GEMMS)
        for name in ("batch", "bptt", "eval_batch", "log_every"):
            require_positive(name, getattr(self, name))
        limits = ("max_vocab", "epochs", "max_steps", "max_minutes", "save_every", "restart_every")
        for name in (*limits, "lr", "clip", "decay_after", "average_after", "threads"):
            if getattr(self, name) < 0:
                raise ElmanError(
                    f"--{_flag(name)} must be zero or positive, got {getattr(self, name)}."
                )
        if self.seed < 0:
            raise ElmanError(f"--seed must be zero or positive, got {self.seed}.")
        if self.min_count < 1:
            raise ElmanError(f"--min-count must be at least 1, got {self.min_count}.")
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
            kinds=("classify", "lm"),
        ),
    )
    test_fraction: float = field(
        default=0.2,
        metadata=field_help(
            "part of --data held out for testing when no --test is given",
            kinds=("classify", "lm"),
        ),
    )
    split_seed: int = field(
        default=0,
        metadata=field_help(
            "seed of the stratified split of --data (recorded in the checkpoint)",
            kinds=("classify", "lm"),
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


C = TypeVar("C", ModelConfig, TrainConfig)


def from_dict(cls: type[C], values: dict[str, Any], where: str = "config") -> C:
    """Build a config from JSON values, refusing keys it does not know."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
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


def parse_cutoffs(text: str) -> list[int]:
    """``"2000,5000"`` -> [2000, 5000], refusing anything but increasing positive integers;
    ``""`` -> [] (the default)."""
    if not text.strip():
        return []
    try:
        cutoffs = [int(part) for part in text.split(",")]
    except ValueError:
        cutoffs = []
    increasing = all(a < b for a, b in zip(cutoffs, cutoffs[1:], strict=False))
    if not cutoffs or cutoffs[0] < 1 or not increasing:
        raise ElmanError(
            f"--cutoffs must be increasing positive token ids separated by commas, such as "
            f"2000,5000, got {text!r}."
        )
    return cutoffs


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


def require_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ElmanError(f"--{_flag(name)} must be one of {', '.join(choices)}, got {value!r}.")
