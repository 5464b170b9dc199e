"""One-to-many: a language model conditioned on a label or a vector (a class, a topic, an
image's features), which generates text given it.

    c    = E_c[label]                  a learned embedding of the label   (B, C)
         | v                           or a given vector per line         (B, C)
    then the shared conditional decoder (``elman.blocks.decoder.Decoder``):
    h_0  = tanh(c W_c + b_c)           per layer, --bridge (default)
    x_t  = [E[w_t]; c]                 at every step, --peeky
    p(w_{t+1} | w_1..w_t, c)           embedding -> recurrent layers -> affine -> softmax

It is the language model kind with a condition: the same commands read and write it,
and its checkpoint records the condition (its kind, size and the label set). A
condition belongs to a line, so every line is read whole from its condition: the state
is reset at each line end.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from elman.blocks.decoder import Conditioning, Decoder, take_state
from elman.config import (
    ModelConfig,
    SplitConfig,
    extended,
    field_help,
    require_choice,
    require_positive,
)
from elman.errors import ElmanError
from elman.lm.config import LanguageModelConfig
from elman.nn import Embedding
from elman.nn import init as nninit
from elman.nn.loss import cross_entropy
from elman.nn.network import Network

CONDITIONS = ("none", "label", "vector")


@dataclass
class ConditionConfig(SplitConfig):
    """What a conditioned language model reads besides its text (``--condition``)."""

    condition: str = field(
        default="none",
        metadata=field_help(
            "generate given a condition: none, a label (a label<TAB>text file, as the "
            "classifier reads) or a vector per line (--vectors FILE.npy)",
            choices=CONDITIONS,
        ),
    )
    condition_size: int = field(
        default=32,
        metadata=field_help(
            "size C of the label's learned embedding (a vector condition's size is the "
            "vectors' own)",
        ),
    )
    bridge: bool = field(
        default=True,
        metadata=field_help("start each layer's state from the condition, h_0 = tanh(c W + b)"),
    )
    peeky: bool = field(
        default=False,
        metadata=field_help(
            "also feed the condition to the first layer at every step (Deep Learning from "
            "Scratch 2's peeky decoder)",
        ),
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        require_choice("condition", self.condition, CONDITIONS)
        require_positive("condition_size", self.condition_size)
        if self.condition != "none" and not (self.bridge or self.peeky):
            raise ElmanError(
                "a condition must enter the model somewhere: keep --bridge or add --peeky."
            )

    @property
    def conditioned(self) -> bool:
        return self.condition != "none"


@dataclass(frozen=True)
class ConditionedState:
    """Where a conditioned model's reading stands: the condition and each layer's state."""

    conditioning: Conditioning
    layers: list = field(default_factory=list)


class ConditionedLanguageModel(Network):
    """A language model whose every line starts from a condition (module doc).

    Parameters: those of ``LanguageModel`` under the same names ("embed.W", "rnn.0.W_x",
    ..., "output.W", "output.b"), the decoder's bridges ("bridge.0.W", "bridge.0.b", ...)
    and, for labels, their embedding "condition.W" (K, C). With the bridges and the peeky
    rows of "rnn.0.W_x" zero, it is the plain language model reading each line from a
    zero state (tests/blocks/test_decoder.py).

    Training: ``forward(inputs, targets, mask, condition)`` and ``backward()``, the
    condition one label id (B,) or one vector (B, C) per row. Pure, for evaluation and
    generation: ``prepare(batch, condition)`` gives the state to start from, then
    ``logits``, ``nll`` and ``step`` as the plain model's.
    """

    def __init__(
        self,
        config: LanguageModelConfig | ModelConfig,
        condition: ConditionConfig,
        labels: int = 0,
        seed: int = 0,
        dtype: np.dtype | type = np.float32,
    ) -> None:
        if not condition.conditioned:
            raise ValueError("a ConditionedLanguageModel needs a condition; use LanguageModel")
        config = extended(config, LanguageModelConfig)
        if config.softmax != "full":
            raise ElmanError(
                "a conditioned model has a full softmax over its vocabulary; drop --softmax "
                "adaptive."
            )
        if config.state != "reset":
            config = dataclasses.replace(config, state="reset")  # a condition belongs to a line
        self.config, self.condition = config, condition
        self.labels = labels if condition.condition == "label" else 0
        if condition.condition == "label" and labels < 1:
            raise ElmanError("a label-conditioned model needs labels; give label<TAB>text lines.")
        rng = np.random.default_rng(seed)
        self.dropout_rng = np.random.default_rng([seed, 1])
        C = condition.condition_size
        self.decoder = Decoder(
            config, rng, self.dropout_rng, C, bridge=condition.bridge, peeky=condition.peeky
        )
        self.label_embedding = (
            Embedding(nninit.uniform(rng, (labels, C), nninit.EMBED_SCALE)) if self.labels else None
        )
        named = self.decoder.layers()
        if self.label_embedding is not None:
            named.append(("condition", self.label_embedding))
        self.pack(named, dtype, skip=self.decoder.tied())
        self.decoder.tie(self.params, self.grads)
        self.dropouts = self.decoder.dropouts
        self.loss_layer = self.decoder.loss_layer
        self._label_ids: np.ndarray | None = None

    def vectors(self, condition: np.ndarray) -> np.ndarray:
        """The condition vectors c (B, C) of label ids (B,) or given vectors (B, C), pure."""
        condition = np.asarray(condition)
        if self.label_embedding is not None:
            if condition.ndim != 1 or not np.issubdtype(condition.dtype, np.integer):
                raise ValueError(
                    f"expected label ids (B,), got {condition.dtype} {condition.shape}"
                )
            return self.label_embedding.apply(condition)
        C = self.condition.condition_size
        if condition.ndim != 2 or condition.shape[1] != C:
            raise ValueError(f"expected vectors of shape (B, {C}), got {condition.shape}")
        return condition.astype(self.dtype, copy=False)

    # Training -------------------------------------------------------------------------

    def forward(
        self,
        inputs: np.ndarray,
        targets: np.ndarray,
        mask: np.ndarray | None = None,
        condition: np.ndarray | None = None,
    ) -> float:
        """Mean cross-entropy of ``targets`` read from ``inputs`` (B, T), each row from
        its own condition (label ids (B,) or vectors (B, C))."""
        if condition is None:
            raise ValueError("a conditioned model reads a condition with every batch")
        if self.label_embedding is not None:
            self._label_ids = np.asarray(condition)
            c = self.label_embedding.forward(self._label_ids)
        else:
            c = self.vectors(condition)
        return self.decoder.forward(inputs, targets, mask, condition=c)

    @property
    def loss_sum(self) -> float:
        """The summed loss of the last ``forward`` (nats)."""
        return self.loss_layer.total

    @property
    def loss_count(self) -> float:
        """The tokens the last ``forward``'s loss is summed over."""
        return self.loss_layer.count

    def backward(self) -> None:
        """Add the gradient of the last ``forward``'s loss to ``grads``, the label
        embedding's included."""
        gradients = self.decoder.backward()
        if self.label_embedding is not None:
            self.label_embedding.backward(gradients.condition)

    # Evaluation and generation (pure) ---------------------------------------------------

    def prepare(self, batch: int, condition: np.ndarray | None = None) -> ConditionedState:
        """The state ``batch`` sequences start from, given their condition (label ids (B,)
        or vectors (B, C)): each layer's bridged state, and the condition for the peeky
        input."""
        if condition is None:
            raise ElmanError(
                f"this language model was trained with a {self.condition.condition} condition; "
                f"give one (--{self.condition.condition})."
            )
        conditioning, layers = self.decoder.prepare(batch, self.vectors(condition))
        return ConditionedState(conditioning, layers)

    def logits(
        self, inputs: np.ndarray, state: ConditionedState | None = None
    ) -> tuple[np.ndarray, ConditionedState]:
        """Token ids (B, T) from ``state`` (``prepare``'s) -> next-token logits (B, T, V)
        and the state after the last step."""
        if state is None:
            raise ValueError("a conditioned model reads from prepare(batch, condition)'s state")
        logits, _, layers = self.decoder.apply(inputs, state.conditioning, state.layers)
        return logits, ConditionedState(state.conditioning, layers)

    def nll(
        self,
        inputs: np.ndarray,
        targets: np.ndarray,
        mask: np.ndarray | None = None,
        state: ConditionedState | None = None,
    ) -> tuple[float, int, ConditionedState]:
        """(summed cross-entropy in nats, tokens scored, state after the chunk)."""
        logits, state = self.logits(inputs, state)
        total, count = cross_entropy(logits, targets, mask)
        return total, count, state

    def take_rows(self, state: ConditionedState, rows: np.ndarray) -> ConditionedState:
        """The state of the streams ``rows`` (an index array) only, their conditions with it."""
        return ConditionedState(state.conditioning.take(rows), take_state(state.layers, rows))

    def step(self, token_ids: np.ndarray, state: ConditionedState) -> tuple[np.ndarray, Any]:
        """One token per sequence: ids (B,) -> logits (B, V) and the new state."""
        logits, _, layers = self.decoder.step(token_ids, state.conditioning, state.layers)
        return logits, ConditionedState(state.conditioning, layers)
