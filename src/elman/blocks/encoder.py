"""The recurrent encoder that classifiers, taggers and translators share: stacked
(bi)directional layers over padded, length-masked batches of whole sequences."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from elman.config import ModelConfig, field_help
from elman.nn import GRU, LSTM, RNN, Bidirectional, Dropout
from elman.nn import init as nninit


@dataclass
class EncoderConfig(ModelConfig):
    """The shape of a network that reads whole sequences (a classifier's, a tagger's, a
    translator's source side): the recurrent stack, read one way or both."""

    bidirectional: bool = field(
        default=False,
        metadata=field_help("read each sequence both ways (Schuster & Paliwal 1997)"),
    )

    @property
    def output_size(self) -> int:
        """Size of the top recurrent layer's output: H, or 2H when bidirectional."""
        return self.hidden * (2 if self.bidirectional else 1)


class Encoder:
    """xs (B, T, D) and lengths (B,) -> hs (B, T, H), or (B, T, 2H) when bidirectional:

        x -> dropout -> layer 0 -> dropout -> layer 1 ... -> hs

    Every layer starts from a zero state for every batch: a sequence is read whole.
    The batch is right-padded (see ``elman.data.padded``). At the real steps the
    outputs are those of each sequence alone, because the forward direction reads
    the padding only after the real steps and a bidirectional layer starts its
    reverse direction at the last real step; what the outputs hold at padded
    steps is left for the caller to mask, and a zero gradient there adds nothing.

    ``layers(prefix)`` names the parameters as the language model does
    (``"rnn.0.W_x"``), with the direction for a bidirectional layer
    (``"rnn.0.forward.W_x"``, ``"rnn.0.reverse.W_x"``), so a language model's
    weights can be copied into the forward direction by name.
    """

    def __init__(
        self,
        config: EncoderConfig,
        input_size: int,
        rng: np.random.Generator,
        dropout_rng: np.random.Generator,
    ) -> None:
        H = config.hidden
        self.rnns: list[RNN | LSTM | GRU | Bidirectional] = []
        for i in range(config.layers):
            size = input_size if i == 0 else config.output_size
            if config.bidirectional:
                layer = Bidirectional(
                    nninit.recurrent_layer(config.cell, size, H, rng),
                    nninit.recurrent_layer(config.cell, size, H, rng),
                )
            else:
                layer = nninit.recurrent_layer(config.cell, size, H, rng)
            self.rnns.append(layer)
        # Dropout on each layer's input: the embeddings, then between layers.
        self.dropouts = [
            Dropout(config.dropout, config.dropout_kind, dropout_rng) for _ in range(config.layers)
        ]

    def layers(self, prefix: str) -> list[tuple[str, RNN | LSTM | GRU]]:
        """The layers with parameters, named ``prefix.i`` or ``prefix.i.forward``/``reverse``."""
        named = []
        for i, rnn in enumerate(self.rnns):
            if isinstance(rnn, Bidirectional):
                named += [(f"{prefix}.{i}.{name}", layer) for name, layer in rnn.sublayers()]
            else:
                named.append((f"{prefix}.{i}", rnn))
        return named

    def set_training(self, mode: bool) -> None:
        for dropout in self.dropouts:
            dropout.training = mode

    def forward(self, xs: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """xs (B, T, D), lengths (B,) -> hs (B, T, H or 2H)."""
        x = xs
        for dropout, rnn in zip(self.dropouts, self.rnns, strict=True):
            x = dropout.forward(x)
            if isinstance(rnn, Bidirectional):
                x = rnn.forward(x, lengths)
            else:
                rnn.reset_state()
                x = rnn.forward(x)
                rnn.reset_state()
        return x

    def apply(self, xs: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """As ``forward`` without dropout, pure: nothing cached, so one encoder can serve
        several callers at once (prediction, evaluation, a server's requests)."""
        x = xs
        for rnn in self.rnns:
            x = rnn.apply(x, lengths) if isinstance(rnn, Bidirectional) else rnn.apply(x)[0]
        return x

    def backward(self, dhs: np.ndarray) -> np.ndarray:
        """dhs (B, T, H or 2H) -> dxs (B, T, D). The gradient reaching the zero initial
        states is dropped: nothing comes before a sequence."""
        dx = dhs
        for dropout, rnn in zip(reversed(self.dropouts), reversed(self.rnns), strict=True):
            dx, _dstate0 = rnn.backward(dx)
            dx = dropout.backward(dx)
        return dx
