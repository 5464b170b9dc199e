"""Many-to-one: read a whole text, output one label (spam or ham, a sentiment, a topic).

    x_t = E[w_t]                                   embedding                 (B, T, D)
    h_t = encoder(x)_t                             (bi)RNN/LSTM/GRU stack    (B, T, H or 2H)
    v   = pool(h_1..h_L)                           final state, mean or max  (B, H or 2H)
                                                   over the L real steps only
    y   = v W + b                                  affine                    (B, K)
    loss = mean over texts of -log softmax(y)[label]   (weighted per class, optionally)

Texts of different lengths share a batch right-padded (``elman.data.padded``);
the encoder and the pooling read only the real steps, so padding changes neither
the loss nor any gradient.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from elman.blocks.encoder import Encoder, EncoderConfig
from elman.classify.data import LabeledBatch
from elman.config import ModelConfig, SplitConfig, extended, field_help, require_choice
from elman.errors import ElmanError
from elman.nn import Affine, Dropout, Embedding, Pooling, SoftmaxCrossEntropy
from elman.nn import init as nninit
from elman.nn.init import EMBED_SCALE
from elman.nn.network import Network
from elman.nn.pooling import POOLINGS

CLASS_WEIGHTS = ("none", "balanced")


@dataclass
class ClassifierConfig(SplitConfig):
    """What a classifier adds to the encoder's shape (``EncoderConfig``) and the training
    settings (``TrainConfig``)."""

    pooling: str = field(
        default="final",
        metadata=field_help(
            "one vector per text from the encoder's outputs: the final state (of each "
            "direction), or the mean or maximum over the text's steps",
            choices=POOLINGS,
        ),
    )
    class_weights: str = field(
        default="none",
        metadata=field_help(
            "weight each text's loss by its class: none, or balanced (N / (K * N_class), "
            "so every class counts as much in total; for imbalanced data)",
            choices=CLASS_WEIGHTS,
        ),
    )
    normalize: bool = field(
        default=True,
        metadata=field_help(
            "before tokenizing, lower-case the text, write every digit as 0 and set runs of "
            "punctuation apart from words, so that FREE!! and free share a word, as do all "
            "11-digit phone numbers"
        ),
    )
    max_length: int = field(
        default=0, metadata=field_help("read only the first N tokens of each text (0: all of it)")
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        require_choice("pooling", self.pooling, POOLINGS)
        require_choice("class_weights", self.class_weights, CLASS_WEIGHTS)
        if self.max_length < 0:
            raise ElmanError(f"--max-length must be zero or positive, got {self.max_length}.")


class Classifier(Network):
    """Embedding -> encoder -> pooling -> dropout -> affine -> softmax cross-entropy
    (module doc). Parameters are named ``"embed.W"``, ``"rnn.0.W_x"`` (or
    ``"rnn.0.forward.W_x"`` when bidirectional), ``"output.W"`` and ``"output.b"``, and
    live in one flat buffer (``nn.Network``).

    Initialisation as the language model's: embedding and output U(-0.1, 0.1),
    recurrent layers by ``nn.init.recurrent_layer``.
    """

    def __init__(
        self,
        config: EncoderConfig | ModelConfig,
        classes: int,
        pooling: str = "final",
        seed: int = 0,
        dtype: np.dtype | type = np.float32,
    ) -> None:
        if config.vocab_size < 1:
            raise ValueError("ModelConfig.vocab_size must be set from the vocabulary")
        config = extended(config, EncoderConfig)
        if classes < 2:
            raise ElmanError(
                f"a classifier needs at least two labels, got {classes}; give texts of "
                "several classes."
            )
        self.config = config
        self.classes = classes
        rng = np.random.default_rng(seed)
        self.dropout_rng = dropout_rng = np.random.default_rng([seed, 1])
        V, D, K = config.vocab_size, config.embed, classes
        self.embedding = Embedding(nninit.uniform(rng, (V, D), EMBED_SCALE))
        self.encoder = Encoder(config, D, rng, dropout_rng)
        self.pooling = Pooling(pooling, split=config.hidden if config.bidirectional else None)
        # On the pooled (B, H) vector: one per text, so "locked" across time means nothing.
        self.dropout = Dropout(config.dropout, "standard", dropout_rng)
        self.output = Affine(nninit.uniform(rng, (config.output_size, K), EMBED_SCALE), np.zeros(K))
        self.loss_layer = SoftmaxCrossEntropy()
        self.dropouts = [*self.encoder.dropouts, self.dropout]
        self.pack(self.layers(), dtype)
        self.loss_sum, self.loss_count, self._scale = 0.0, 0.0, 1.0

    def layers(self) -> list[tuple[str, Any]]:
        """The layers with parameters, named as in ``params``."""
        return [("embed", self.embedding), *self.encoder.layers("rnn"), ("output", self.output)]

    def logits(self, ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Token ids (B, T) right-padded to lengths (B,) -> class logits (B, K); pure (no
        dropout, nothing cached), so one model can serve several callers at once."""
        hs = self.encoder.apply(self.embedding.apply(ids), lengths)
        return self.output.apply(self.pooling.apply(hs, lengths))

    def forward(self, batch: LabeledBatch) -> float:
        """Mean cross-entropy of the batch's labels, weighted by ``batch.weights`` if given
        (sum_i w_i loss_i / sum_i w_i, as PyTorch's ``cross_entropy(weight=...)``)."""
        hs = self.encoder.forward(self.embedding.forward(batch.ids), batch.lengths)
        pooled = self.pooling.forward(hs, batch.lengths)
        logits = self.output.forward(self.dropout.forward(pooled))
        loss = self.loss_layer.forward(logits, batch.labels, batch.weights)
        self.loss_sum = self.loss_layer.total
        if batch.weights is None:
            self.loss_count, self._scale = float(len(batch.labels)), 1.0
            return loss
        # The loss layer divides the weighted sum by the integer count of its mask;
        # a weighted mean divides by the sum of the weights instead.
        self.loss_count = float(batch.weights.sum(dtype=np.float64))
        self._scale = max(self.loss_layer.count, 1) / self.loss_count
        return loss * self._scale

    def backward(self) -> None:
        """Add the gradient of the last ``forward``'s loss to ``grads``."""
        dlogits = self.loss_layer.backward(self._scale)
        dpooled = self.dropout.backward(self.output.backward(dlogits))
        dxs = self.encoder.backward(self.pooling.backward(dpooled))
        self.embedding.backward(dxs)


def init_from_language_model(
    model: Classifier, lm_config: ModelConfig, lm_params: dict[str, np.ndarray]
) -> list[str]:
    """Copy a trained language model's embedding and recurrent weights into ``model``
    (pre-training, then fine-tuning; Dai & Le 2015): ``embed.W`` and each layer's
    weights, into the forward direction when the classifier is bidirectional. The
    output layer, the reverse directions and the input weights of a bidirectional
    encoder's upper layers (which read both directions, 2H wide) keep their
    initialisation. Returns the names copied."""
    ours, theirs = model.config, lm_config
    if (ours.vocab_size, ours.embed, ours.hidden, ours.cell) != (
        theirs.vocab_size,
        theirs.embed,
        theirs.hidden,
        theirs.cell,
    ) or ours.layers > theirs.layers:
        raise ElmanError(
            f"the encoder ({ours.cell}, --embed {ours.embed}, --hidden {ours.hidden}, "
            f"--layers {ours.layers}) does not fit the language model ({theirs.cell}, "
            f"--embed {theirs.embed}, --hidden {theirs.hidden}, --layers {theirs.layers}); "
            "leave these settings out to take the language model's."
        )
    copied = []
    for name, value in lm_params.items():
        layer, _, key = name.rpartition(".")
        if not (layer == "embed" or layer.startswith("rnn.")):
            continue
        target = f"{layer}.forward.{key}" if layer != "embed" and ours.bidirectional else name
        if target in model.params and model.params[target].shape == value.shape:
            model.params[target][...] = value
            copied.append(target)
    return copied
