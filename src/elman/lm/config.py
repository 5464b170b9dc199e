"""A language model's own settings: its shape beyond the shared recurrent stack
(``LanguageModelConfig``: the output layer, the state across lines) and how it is
trained on streams of text (``LanguageModelTrainConfig``: the chunks of truncated
backpropagation through time)."""

from __future__ import annotations

from dataclasses import dataclass, field

from elman.blocks.decoder import DecoderConfig
from elman.config import TrainConfig, field_help, require_choice, require_positive
from elman.errors import ElmanError
from elman.nn.adaptive_softmax import projection_size

STATE_MODES = ("carry", "reset")
SOFTMAXES = ("full", "adaptive")


@dataclass
class LanguageModelConfig(DecoderConfig):
    """A language model's shape: the recurrent stack and its output layer
    (``DecoderConfig``), the kind of softmax, and whether the state runs on across lines.
    How it is trained on streams of text is ``elman.lm.task.LanguageModelTrainConfig``."""

    state: str = field(
        default="carry",
        metadata=field_help(
            "hidden state across lines: carry it on, or reset it at every line end "
            "(in training, evaluation and scoring alike)",
            choices=STATE_MODES,
        ),
    )
    softmax: str = field(
        default="full",
        metadata=field_help(
            "output layer: a full softmax over the vocabulary, or an adaptive softmax (Grave "
            "et al. 2017) that trains faster on large vocabularies and scores exactly",
            choices=SOFTMAXES,
        ),
    )
    cutoffs: str = field(
        default="",
        metadata=field_help(
            "adaptive softmax: increasing token ids, comma-separated, that split the "
            "frequency-ordered vocabulary into a shortlist and tail clusters "
            "(empty: V/5,V/2, i.e. 2000,5000 for a 10,000-word vocabulary)"
        ),
    )
    div_value: float = field(
        default=4.0,
        metadata=field_help(
            "adaptive softmax: tail cluster k projects H to H / div_value^(k+1) dimensions"
        ),
    )
    grown_from: str = field(
        default="",
        metadata=field_help(
            "the vocabulary sizes the model had before each --grow-vocab, comma-separated "
            "(set by --grow-vocab): the output layer computes each older vocabulary's logits "
            "as a product of its own, so that they are exactly the ones it had",
            cli=False,
        ),
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        require_choice("state", self.state, STATE_MODES)
        require_choice("softmax", self.softmax, SOFTMAXES)
        self._check_adaptive_softmax()
        self.vocab_segments()

    def vocab_segments(self) -> tuple[int, ...]:
        """``grown_from`` as integers: where the output layer's column products split."""
        if not self.grown_from:
            return ()
        try:
            sizes = tuple(int(part) for part in self.grown_from.split(","))
        except ValueError:
            sizes = ()
        increasing = all(a < b for a, b in zip(sizes, sizes[1:], strict=False))
        fits = not self.vocab_size or (sizes and sizes[-1] < self.vocab_size)
        if not sizes or sizes[0] < 1 or not increasing or not fits or self.softmax != "full":
            raise ElmanError(
                f"grown_from {self.grown_from!r} is not a list of increasing vocabulary sizes "
                f"below {self.vocab_size} of a full softmax; the checkpoint was edited by hand "
                "or damaged, fix or retrain it."
            )
        return sizes

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


@dataclass
class LanguageModelTrainConfig(TrainConfig):
    """How a language model is trained, besides the loop's settings: the chunks of
    truncated backpropagation through time its streams are cut into."""

    bptt: int = field(
        default=64,
        metadata=field_help("T, steps per chunk; gradients stop at chunk boundaries"),
    )
    restart_every: int = field(
        default=0,
        metadata=field_help(
            "--state carry: each stream also starts over from a zero state every N chunks, "
            "staggered so that about B/N streams restart at each chunk; the model then learns "
            "to start cold anywhere, as each evaluation stream does (0: only at each epoch's "
            "start)"
        ),
    )
    grow_vocab: bool = field(
        default=False,
        metadata=field_help(
            "with --init: add the training text's tokens that the model's vocabulary lacks "
            "(each a small new embedding row and output column, its output bias -30, so the "
            "old tokens' logits start as they were; --min-count and --max-vocab limit what is "
            "added); without it they count as <unk>. Characters and words, full softmax only"
        ),
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        require_positive("bptt", self.bptt)
        if self.restart_every < 0:
            raise ElmanError(f"--restart-every must be zero or positive, got {self.restart_every}.")
