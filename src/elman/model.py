"""The recurrent-network language model: embedding -> recurrent layers -> affine -> softmax."""

from __future__ import annotations

import numpy as np

from elman.config import ModelConfig
from elman.errors import ElmanError
from elman.nn import GRU, LSTM, RNN, Affine, Dropout, Embedding, SoftmaxCrossEntropy
from elman.nn import init as nninit
from elman.nn.parameters import pack_parameters

EMBED_SCALE = 0.1  # U(-0.1, 0.1) for embedding and output (Zaremba et al. 2014)


def check_language_model_config(config: ModelConfig) -> None:
    """Refuse settings a next-token predictor cannot have."""
    if config.bidirectional:
        raise ElmanError(
            "a language model predicts each token from the ones before it, so it cannot read "
            "the text backwards: drop --bidirectional (it is for encoders such as classifiers "
            "and taggers)."
        )


class LanguageModel:
    """p(w_{t+1} | w_1..w_t) with a recurrent network:

        x_t = E[w_t]                                  embedding      (B, T, D)
        h_t = cell(x_t, h_{t-1})                      recurrent, stacked (B, T, H)
                                                      e.g. tanh(x_t W_x + h_{t-1} W_h + b)
        y_t = h_t W_y + b_y                           affine         (B, T, V)
        loss = mean_t -log softmax(y_t)[w_{t+1}]      cross-entropy

    with dropout (training only) on the embeddings, between layers and before the
    affine layer, and W_y = E^T when tied.

    Parameters live in one flat buffer (``flat_params``), and ``params`` maps names
    such as ``"rnn.0.W_h"`` to views into it; gradients likewise. Clipping and the
    optimiser update are then single vectorised operations, and the names make
    checkpoints and comparisons with PyTorch unambiguous.

    Initialisation: embedding and output weights U(-0.1, 0.1) (Zaremba et al.
    2014); recurrent layers as ``nn.init.recurrent_layer`` (W_x Glorot uniform,
    W_h orthogonal, LSTM forget bias 1); other biases zero.
    """

    def __init__(
        self, config: ModelConfig, seed: int = 0, dtype: np.dtype | type = np.float32
    ) -> None:
        if config.vocab_size < 1:
            raise ValueError("ModelConfig.vocab_size must be set from the vocabulary")
        check_language_model_config(config)
        self.config = config
        rng = np.random.default_rng(seed)
        V, D, H = config.vocab_size, config.embed, config.hidden

        self.embedding = Embedding(nninit.uniform(rng, (V, D), EMBED_SCALE))
        self.rnns = [
            nninit.recurrent_layer(config.cell, D if i == 0 else H, H, rng)
            for i in range(config.layers)
        ]
        # Tied (Press & Wolf 2017; Inan et al. 2017): the output layer reads the
        # embedding matrix through a transposed view, and its gradient adds into the
        # embedding's, so the two stay one parameter with nothing else to do.
        W_y = (
            self.embedding.params["W"].T if config.tie else nninit.uniform(rng, (H, V), EMBED_SCALE)
        )
        self.output = Affine(W_y, np.zeros(V))
        self.loss_layer = SoftmaxCrossEntropy()
        # Dropout before each recurrent layer and before the output layer; its own
        # stream of random numbers, so masks do not disturb initialisation.
        dropout_rng = np.random.default_rng([seed, 1])
        self.dropouts = [
            Dropout(config.dropout, config.dropout_kind, dropout_rng)
            for _ in range(config.layers + 1)
        ]

        tied = frozenset({"output.W"}) if config.tie else frozenset()
        self.flat_params, self.flat_grads, self.params, self.grads = pack_parameters(
            self.layers(), np.dtype(dtype), skip=tied
        )
        if config.tie:
            self.output.params["W"] = self.params["embed.W"].T
            self.output.grads["W"] = self.grads["embed.W"].T

    def layers(self) -> list[tuple[str, Embedding | RNN | LSTM | GRU | Affine]]:
        """The layers with parameters, named as in ``params`` (``"rnn.0"``, ...)."""
        rnns = [(f"rnn.{i}", rnn) for i, rnn in enumerate(self.rnns)]
        return [("embed", self.embedding), *rnns, ("output", self.output)]

    @property
    def dtype(self) -> np.dtype:
        return self.flat_params.dtype

    @property
    def training(self) -> bool:
        """True while training: dropout is applied. Evaluation and generation set False."""
        return self.dropouts[0].training

    @training.setter
    def training(self, mode: bool) -> None:
        for dropout in self.dropouts:
            dropout.training = mode

    def zero_grad(self) -> None:
        self.flat_grads.fill(0)

    def reset_state(self) -> None:
        """Start every layer over from a zero state."""
        for rnn in self.rnns:
            rnn.reset_state()

    @property
    def state(self) -> list:
        """The carried state of each layer (None: zeros)."""
        return [rnn.state for rnn in self.rnns]

    @state.setter
    def state(self, state: list) -> None:
        for rnn, layer_state in zip(self.rnns, state, strict=True):
            rnn.state = layer_state

    def logits(self, inputs: np.ndarray) -> np.ndarray:
        """Token ids (B, T) -> next-token logits (B, T, V), carrying the state."""
        x = self.embedding.forward(inputs)
        for dropout, rnn in zip(self.dropouts, self.rnns, strict=False):
            x = rnn.forward(dropout.forward(x))
        return self.output.forward(self.dropouts[-1].forward(x))

    def forward(
        self, inputs: np.ndarray, targets: np.ndarray, mask: np.ndarray | None = None
    ) -> float:
        """Mean cross-entropy (nats per token) of predicting ``targets`` from ``inputs``,
        both (B, T); ``mask`` (B, T) marks real tokens when there is padding."""
        return self.loss_layer.forward(self.logits(inputs), targets, mask)

    def backward(self) -> None:
        """Add the gradient of the last ``forward``'s loss to ``grads``.

        Truncated BPTT: the gradient reaching each layer's initial state (dstate0)
        is dropped here, so it stops at the chunk boundary.
        """
        dx = self.dropouts[-1].backward(self.output.backward(self.loss_layer.backward()))
        for dropout, rnn in zip(reversed(self.dropouts[:-1]), reversed(self.rnns), strict=True):
            dx, _dstate0 = rnn.backward(dx)
            dx = dropout.backward(dx)
        self.embedding.backward(dx)

    def step(self, token_ids: np.ndarray, state: list) -> tuple[np.ndarray, list]:
        """One generation step, pure: ids (B,) and each layer's state -> logits (B, V), new states.

        Nothing is cached, the layers' carried state is left alone, and there is no
        dropout.
        """
        x = self.embedding.params["W"][token_ids]  # (B, D)
        new_state = []
        for rnn, layer_state in zip(self.rnns, state, strict=True):
            x, layer_state = rnn.step(x, layer_state)
            new_state.append(layer_state)
        return x @ self.output.params["W"] + self.output.params["b"], new_state

    def initial_state(self, batch: int) -> list:
        """Zero state for every layer."""
        return [rnn.initial_state(batch) for rnn in self.rnns]
