"""The recurrent-network language model: embedding -> recurrent layers -> affine -> softmax
(or an adaptive softmax in place of the last two)."""

from __future__ import annotations

import dataclasses

import numpy as np

from elman.blocks.decoder import take_state
from elman.config import ModelConfig, extended
from elman.errors import ElmanError
from elman.lm.config import LanguageModelConfig
from elman.memory import TRAINING_COPIES, require_memory
from elman.nn import (
    GRU,
    LSTM,
    RNN,
    AdaptiveSoftmax,
    Affine,
    Dropout,
    Embedding,
    SoftmaxCrossEntropy,
)
from elman.nn import init as nninit
from elman.nn.loss import cross_entropy
from elman.nn.network import Network

EMBED_SCALE = nninit.EMBED_SCALE


def parameter_count(config: LanguageModelConfig) -> int:
    """About how many parameters a language model of ``config`` has, without building it
    (exact for a full softmax, an upper bound for the adaptive one)."""
    V, D, H, gates = config.vocab_size, config.embed, config.hidden, nninit.GATES[config.cell]
    biases = 2 if config.cell == "gru" else 1  # the GRU keeps b_x and b_h apart
    recurrent = sum(gates * ((D if i == 0 else H) + H + biases) * H for i in range(config.layers))
    output = (0 if config.tie else H * V) + V
    return V * D + recurrent + output


def check_memory(config: LanguageModelConfig) -> None:
    """Refuse a model whose training state would not fit in the memory available, saying
    how much it would need, instead of failing (or swapping) part-way through building it."""
    count = parameter_count(config)
    require_memory(
        count * np.dtype(np.float32).itemsize * TRAINING_COPIES,
        f"this model has about {count:,} parameters and training it",
        "choose a smaller --hidden, --embed or --layers",
    )


class StateOverflow(ElmanError):
    """The model's state overflowed while it read a text: refused by generation,
    scoring and evaluation, a divergence for training (``lm.task``)."""


def state_overflow(where: str) -> StateOverflow:
    """The sentence for a state that overflowed ``where`` ("at token 1,034 of the text")."""
    return StateOverflow(
        f"the model's state overflowed {where} (it grew past the largest float32 number, so "
        "the model's output there is NaN); these weights cannot be used, so retrain with a "
        "lower --lr or a --clip, or use an earlier checkpoint."
    )


def first_overflow(logits: np.ndarray, mask: np.ndarray | None = None) -> tuple[int, ...] | None:
    """The index (b, t) of the first position, by row then step, whose logits (B, T, V)
    hold NaN or +inf (what a state that overflowed gives; -inf is a probability of 0),
    among the real positions of ``mask`` (B, T); None when there is none."""
    bad = np.any(np.isnan(logits) | (logits == np.inf), axis=-1)  # (B, T)
    if mask is not None:
        bad &= mask
    found = np.argwhere(bad)
    return None if len(found) == 0 else tuple(int(i) for i in found[0])


class LanguageModel(Network):
    """p(w_{t+1} | w_1..w_t) with a recurrent network:

        x_t = E[w_t]                                  embedding      (B, T, D)
        h_t = cell(x_t, h_{t-1})                      recurrent, stacked (B, T, H)
                                                      e.g. tanh(x_t W_x + h_{t-1} W_h + b)
        y_t = h_t W_y + b_y                           affine         (B, T, V)
        loss = mean_t -log softmax(y_t)[w_{t+1}]      cross-entropy

    with dropout (training only) on the embeddings, between layers and before the
    affine layer, and W_y = E^T when tied.

    With ``softmax="adaptive"`` an ``AdaptiveSoftmax`` (Grave et al. 2017) replaces the
    affine layer and the cross-entropy: ``output`` is then also ``loss_layer``, its
    parameters are named ``"output.head.W"``, ``"output.head.b"``, ``"output.tail.0.proj"``,
    ``"output.tail.0.out"``, ..., and the loss is still the exact cross-entropy. The
    vocabulary must be ordered by frequency, as the tokenizers order it, so that the
    shortlist holds the frequent tokens.

    Parameters live in one flat buffer (``flat_params``), and ``params`` maps names
    such as ``"rnn.0.W_h"`` to views into it; gradients likewise (``nn.Network``).

    Initialisation: embedding and output weights U(-0.1, 0.1) (Zaremba et al.
    2014; all the adaptive softmax's weights alike); recurrent layers as
    ``nn.init.recurrent_layer`` (W_x Glorot uniform, W_h orthogonal, LSTM forget
    bias 1); other biases zero.
    """

    def __init__(
        self,
        config: LanguageModelConfig | ModelConfig,
        seed: int = 0,
        dtype: np.dtype | type = np.float32,
    ) -> None:
        if config.vocab_size < 1:
            raise ValueError("ModelConfig.vocab_size must be set from the vocabulary")
        config = extended(config, LanguageModelConfig)
        if config.softmax == "adaptive":
            # Resolved once, so that the config saved with the model names the cutoffs in
            # force, whatever the default may become.
            cutoffs = config.adaptive_cutoffs()
            config = dataclasses.replace(config, cutoffs=",".join(map(str, cutoffs)))
        self.config = config
        rng = np.random.default_rng(seed)
        V, D, H = config.vocab_size, config.embed, config.hidden

        self.embedding = Embedding(nninit.uniform(rng, (V, D), EMBED_SCALE))
        self.rnns = [
            nninit.recurrent_layer(config.cell, D if i == 0 else H, H, rng)
            for i in range(config.layers)
        ]
        self.output: Affine | AdaptiveSoftmax
        self.loss_layer: SoftmaxCrossEntropy | AdaptiveSoftmax
        if config.softmax == "adaptive":
            self.output = nninit.adaptive_softmax(rng, H, V, cutoffs, config.div_value, EMBED_SCALE)
            self.loss_layer = self.output  # it computes the cross-entropy itself
        else:
            # Tied (Press & Wolf 2017; Inan et al. 2017): the output layer reads the
            # embedding matrix through a transposed view, and its gradient adds into the
            # embedding's, so the two stay one parameter with nothing else to do.
            W_y = (
                self.embedding.params["W"].T
                if config.tie
                else nninit.uniform(rng, (H, V), EMBED_SCALE)
            )
            self.output = Affine(W_y, np.zeros(V), config.vocab_segments())
            # backward hands the gradient straight to the output layer, so the (B*T, V)
            # buffer can serve every step
            self.loss_layer = SoftmaxCrossEntropy(reuse_buffer=True)
        # Dropout before each recurrent layer and before the output layer; its own
        # stream of random numbers, so masks do not disturb initialisation.
        self.dropout_rng = dropout_rng = np.random.default_rng([seed, 1])
        self.dropouts = [
            Dropout(config.dropout, config.dropout_kind, dropout_rng)
            for _ in range(config.layers + 1)
        ]

        self.pack(self.layers(), dtype, skip=frozenset({"output.W"} if config.tie else ()))
        if config.tie:
            self.output.params["W"] = self.params["embed.W"].T
            self.output.grads["W"] = self.grads["embed.W"].T

    def layers(self) -> list[tuple[str, Embedding | RNN | LSTM | GRU | Affine | AdaptiveSoftmax]]:
        """The layers with parameters, named as in ``params`` (``"rnn.0"``, ...)."""
        rnns = [(f"rnn.{i}", rnn) for i, rnn in enumerate(self.rnns)]
        return [("embed", self.embedding), *rnns, ("output", self.output)]

    def reset_state(self, rows: np.ndarray | None = None) -> None:
        """Start every layer over from a zero state: in every stream, or only in the
        streams where the (B,) boolean ``rows`` is True."""
        for rnn in self.rnns:
            rnn.reset_state(rows)

    @property
    def state(self) -> list:
        """The carried state of each layer (None: zeros)."""
        return [rnn.state for rnn in self.rnns]

    @state.setter
    def state(self, state: list) -> None:
        for rnn, layer_state in zip(self.rnns, state, strict=True):
            rnn.state = layer_state

    @property
    def adaptive(self) -> bool:
        """True when the output layer is an adaptive softmax."""
        return isinstance(self.output, AdaptiveSoftmax)

    def hidden_states(self, inputs: np.ndarray) -> np.ndarray:
        """Token ids (B, T) -> the top layer's outputs after dropout (B, T, H), carrying
        the state in the layers and caching for backward: the training path."""
        x = self.embedding.forward(inputs)
        for dropout, rnn in zip(self.dropouts, self.rnns, strict=False):
            x = rnn.forward(dropout.forward(x))
        return self.dropouts[-1].forward(x)

    def _read(self, inputs: np.ndarray, state: list | None) -> tuple[np.ndarray, list]:
        """Token ids (B, T) and each layer's state (None: zeros) -> the top layer's outputs
        (B, T, H) and each layer's state after them; pure, without dropout."""
        x = self.embedding.apply(inputs)
        new_state = []
        for rnn, layer_state in zip(self.rnns, state or [None] * len(self.rnns), strict=True):
            x, layer_state = rnn.apply(x, layer_state)
            new_state.append(layer_state)
        return x, new_state

    def logits(self, inputs: np.ndarray, state: list | None = None) -> tuple[np.ndarray, list]:
        """Token ids (B, T) and each layer's state (None: zeros) -> next-token logits
        (B, T, V) and the state after the last step.

        Pure: no dropout, nothing cached, the layers' carried state untouched, so one
        loaded model can serve several callers at once. With the adaptive softmax the
        logits are the exact log-probabilities: logits whose softmax is the model's
        distribution, so sampling and ``log_softmax`` work on them unchanged. They cost
        H V per position, as a full softmax's do.
        """
        h, state = self._read(inputs, state)
        return (self.output.log_prob(h) if self.adaptive else self.output.apply(h)), state

    def nll(
        self,
        inputs: np.ndarray,
        targets: np.ndarray,
        mask: np.ndarray | None = None,
        state: list | None = None,
    ) -> tuple[float, int, list]:
        """(summed cross-entropy in nats, tokens scored, state after the chunk) of
        predicting ``targets`` from ``inputs`` (B, T) from ``state`` (None: zeros): what
        ``forward`` computes, pure (see ``logits``), for evaluation."""
        h, state = self._read(inputs, state)
        if self.adaptive:
            total, count = self.output.nll(h, targets, mask)
        else:
            total, count = cross_entropy(self.output.apply(h), targets, mask)
        return total, count, state

    def forward(
        self, inputs: np.ndarray, targets: np.ndarray, mask: np.ndarray | None = None
    ) -> float:
        """Mean cross-entropy (nats per token) of predicting ``targets`` from ``inputs``,
        both (B, T); ``mask`` (B, T) marks real tokens when there is padding.
        ``loss_sum`` and ``loss_count`` then hold the summed loss and the number of
        tokens. Exact for either output layer."""
        if self.adaptive:  # projection and cross-entropy in one, without the (B, T, V) logits
            return self.output.forward(self.hidden_states(inputs), targets, mask)
        logits = self.output.forward(self.hidden_states(inputs))  # (B, T, V)
        return self.loss_layer.forward(logits, targets, mask)

    @property
    def loss_sum(self) -> float:
        """The summed loss of the last ``forward`` (nats)."""
        return self.loss_layer.total

    @property
    def loss_count(self) -> float:
        """What the last ``forward``'s loss is summed over: the tokens scored."""
        return self.loss_layer.count

    def backward(self) -> None:
        """Add the gradient of the last ``forward``'s loss to ``grads``.

        Truncated BPTT: the gradient reaching each layer's initial state (dstate0)
        is dropped here, so it stops at the chunk boundary.
        """
        dh = (
            self.output.backward()
            if self.adaptive
            else self.output.backward(self.loss_layer.backward())
        )
        dx = self.dropouts[-1].backward(dh)
        for dropout, rnn in zip(reversed(self.dropouts[:-1]), reversed(self.rnns), strict=True):
            dx, _dstate0 = rnn.backward(dx)
            dx = dropout.backward(dx)
        self.embedding.backward(dx)

    def step(self, token_ids: np.ndarray, state: list) -> tuple[np.ndarray, list]:
        """One generation step, pure: ids (B,) and each layer's state -> logits (B, V), new states.

        Nothing is cached, the layers' carried state is left alone, and there is no
        dropout. With the adaptive softmax the logits are log-probabilities (see ``logits``).
        """
        x = self.embedding.params["W"][token_ids]  # (B, D)
        new_state = []
        for rnn, layer_state in zip(self.rnns, state, strict=True):
            x, layer_state = rnn.step(x, layer_state)
            new_state.append(layer_state)
        if self.adaptive:
            return self.output.log_prob(x), new_state
        return self.output.product(x, self.output.params["W"]) + self.output.params["b"], new_state

    def initial_state(self, batch: int) -> list:
        """Zero state for every layer."""
        return [rnn.initial_state(batch) for rnn in self.rnns]

    def take_rows(self, state: list, rows: np.ndarray) -> list:
        """The state of the streams ``rows`` (an index array) only: generation drops the
        streams that have finished."""
        return take_state(state, rows)

    def prepare(self, batch: int, condition: np.ndarray | None = None) -> list:
        """The state ``batch`` sequences are read from: zeros. The pure methods of every
        language model start from what ``prepare`` gives (a conditioned model's holds the
        condition), so evaluation and generation read either kind the same way."""
        if condition is not None:
            raise ElmanError(
                "this language model was trained without a condition; leave out --label "
                "and --vector."
            )
        return self.initial_state(batch)


# Fine-tuning: a trained model's weights in a new run, its vocabulary grown or not --------

# A token a model gains when it is fine-tuned on new text starts with a small embedding row
# and output column, U(-0.01, 0.01) (a tenth of a new model's), and an output bias of -30:
# its logit is then some 30 below the old tokens', so it takes a probability of about
# e^-30 = 1e-13 from them until training raises it, and the old tokens' own logits are
# untouched (the output layer computes them as the model did: ``Affine``'s segments).
GROWN_SCALE = 0.01
GROWN_BIAS = -30.0


def fine_tuned(model: LanguageModel, config: LanguageModelConfig, seed: int = 0) -> LanguageModel:
    """A new model of ``config`` holding ``model``'s weights: the same shape but for the
    vocabulary, which may be larger (the old tokens first, with their ids), and the
    dropout. Every old weight is copied bit for bit; a new token's embedding row and
    output column are drawn from U(-GROWN_SCALE, GROWN_SCALE) with ``seed``, its output
    bias is GROWN_BIAS, and ``config.grown_from`` gains the old vocabulary's size."""
    old = model.config
    V, V_new = old.vocab_size, config.vocab_size
    if V_new < V:
        raise ValueError(f"a fine-tuned vocabulary keeps every old token: {V_new} < {V}")
    if V_new > V:
        if old.softmax != "full":
            raise ElmanError(
                "--grow-vocab adds output rows to a full softmax, but this model has an "
                "adaptive softmax (its clusters are cut by the tokens' frequencies); fine-tune "
                "it without --grow-vocab, the new tokens counting as <unk>."
            )
        grown = ",".join(map(str, (*old.vocab_segments(), V)))
        config = dataclasses.replace(config, grown_from=grown)
    new = LanguageModel(config, seed=seed, dtype=model.flat_params.dtype)
    rng = np.random.default_rng([seed, 3])  # apart from the new model's own initialisation
    for name, value in model.params.items():
        target = new.params[name]
        if target.shape == value.shape:
            target[...] = value
        elif name == "embed.W":  # (V, D): the new tokens' rows below the old
            target[:V] = value
            target[V:] = nninit.uniform(rng, (V_new - V, value.shape[1]), GROWN_SCALE)
        elif name == "output.W":  # (H, V): their columns after the old
            target[:, :V] = value
            target[:, V:] = nninit.uniform(rng, (value.shape[0], V_new - V), GROWN_SCALE)
        elif name == "output.b":
            target[:V] = value
            target[V:] = GROWN_BIAS
        else:
            raise ValueError(f"{name} has shape {value.shape}, expected {target.shape}")
    return new
