"""The recurrent-network language model: embedding -> RNN layers -> affine -> softmax."""

from __future__ import annotations

import numpy as np

from elman.config import ModelConfig
from elman.nn import RNN, Affine, Embedding, SoftmaxCrossEntropy
from elman.nn import init as nninit

EMBED_SCALE = 0.1  # U(-0.1, 0.1) for embedding and output (Zaremba et al. 2014)


class LanguageModel:
    """p(w_{t+1} | w_1..w_t) with an Elman RNN:

        x_t = E[w_t]                                  embedding      (B, T, D)
        h_t = tanh(x_t W_x + h_{t-1} W_h + b)         RNN, stacked   (B, T, H)
        y_t = h_t W_y + b_y                           affine         (B, T, V)
        loss = mean_t -log softmax(y_t)[w_{t+1}]      cross-entropy

    Parameters live in one flat buffer (``flat_params``), and ``params`` maps names
    such as ``"rnn.0.W_h"`` to views into it; gradients likewise. Clipping and the
    optimiser update are then single vectorised operations, and the names make
    checkpoints and comparisons with PyTorch unambiguous.

    Initialisation: embedding and output weights U(-0.1, 0.1) (Zaremba et al.
    2014), W_x Glorot uniform (Glorot & Bengio 2010), W_h orthogonal (Saxe et al.
    2014), biases zero.
    """

    def __init__(
        self, config: ModelConfig, seed: int = 0, dtype: np.dtype | type = np.float32
    ) -> None:
        if config.vocab_size < 1:
            raise ValueError("ModelConfig.vocab_size must be set from the vocabulary")
        self.config = config
        rng = np.random.default_rng(seed)
        V, D, H = config.vocab_size, config.embed, config.hidden

        self.embedding = Embedding(nninit.uniform(rng, (V, D), EMBED_SCALE))
        self.rnns = []
        for layer in range(config.layers):
            fan_in = D if layer == 0 else H
            self.rnns.append(
                RNN(nninit.glorot_uniform(rng, fan_in, H), nninit.orthogonal(rng, H), np.zeros(H))
            )
        self.output = Affine(nninit.uniform(rng, (H, V), EMBED_SCALE), np.zeros(V))
        self.loss_layer = SoftmaxCrossEntropy()
        self._pack_parameters(np.dtype(dtype))

    def layers(self) -> list[tuple[str, Embedding | RNN | Affine]]:
        """The layers with parameters, named as in ``params`` (``"rnn.0"``, ...)."""
        rnns = [(f"rnn.{i}", rnn) for i, rnn in enumerate(self.rnns)]
        return [("embed", self.embedding), *rnns, ("output", self.output)]

    def _pack_parameters(self, dtype: np.dtype) -> None:
        # One flat buffer each for parameters and gradients; every layer's arrays
        # become views into them, so the layers keep reading self.params["W"].
        named = [
            (f"{prefix}.{key}", layer, key)
            for prefix, layer in self.layers()
            for key in layer.params
        ]
        total = sum(layer.params[key].size for _, layer, key in named)
        self.flat_params = np.empty(total, dtype)
        self.flat_grads = np.zeros(total, dtype)
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        offset = 0
        for name, layer, key in named:
            value = layer.params[key]
            end = offset + value.size
            param = self.flat_params[offset:end].reshape(value.shape)
            param[...] = value
            layer.params[key] = self.params[name] = param
            layer.grads[key] = self.grads[name] = self.flat_grads[offset:end].reshape(value.shape)
            offset = end

    @property
    def dtype(self) -> np.dtype:
        return self.flat_params.dtype

    def zero_grad(self) -> None:
        self.flat_grads.fill(0)

    def reset_state(self) -> None:
        """Start every layer over from h_0 = 0."""
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
        for rnn in self.rnns:
            x = rnn.forward(x)
        return self.output.forward(x)

    def forward(
        self, inputs: np.ndarray, targets: np.ndarray, mask: np.ndarray | None = None
    ) -> float:
        """Mean cross-entropy (nats per token) of predicting ``targets`` from ``inputs``,
        both (B, T); ``mask`` (B, T) marks real tokens when there is padding."""
        return self.loss_layer.forward(self.logits(inputs), targets, mask)

    def backward(self) -> None:
        """Add the gradient of the last ``forward``'s loss to ``grads``.

        Truncated BPTT: the gradient reaching each layer's initial state (dh0) is
        dropped here, so it stops at the chunk boundary.
        """
        dx = self.output.backward(self.loss_layer.backward())
        for rnn in reversed(self.rnns):
            dx, _dh0 = rnn.backward(dx)
        self.embedding.backward(dx)

    def step(self, token_ids: np.ndarray, state: list) -> tuple[np.ndarray, list]:
        """One generation step, pure: ids (B,) and each layer's state -> logits (B, V), new states.

        Nothing is cached and the layers' carried state is left alone.
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
