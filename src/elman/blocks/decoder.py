"""The conditional decoder that translators and conditioned language models share: a
language model over the target tokens whose state starts from a condition vector, that
may read the condition at every step and attend over a memory (an encoder's outputs)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from elman.config import ModelConfig, extended, field_help
from elman.errors import ElmanError
from elman.nn import (
    GRU,
    LSTM,
    RNN,
    Affine,
    Attention,
    Bridge,
    Dropout,
    Embedding,
    SoftmaxCrossEntropy,
)
from elman.nn import init as nninit
from elman.nn.attention import SCORES
from elman.nn.init import EMBED_SCALE
from elman.nn.loss import cross_entropy

ATTENTIONS = ("none", *SCORES)
State = list  # one entry per layer: h (B, H), or (h, c) for an LSTM


@dataclass
class DecoderConfig(ModelConfig):
    """The shape of a network that writes tokens (a language model, a translator's target
    side): the recurrent stack and an output layer over the vocabulary, which may share
    the embedding matrix."""

    tie: bool = field(
        default=False,
        metadata=field_help(
            "the output layer shares the embedding matrix (Press & Wolf 2017; Inan et al. "
            "2017); needs --embed equal to --hidden"
        ),
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.tie and self.embed != self.hidden:
            # The output layer reads the top layer's H units (a translator's decoder too:
            # its bidirectional encoder is not what its output layer reads).
            raise ElmanError(
                f"--tie shares the embedding matrix with the output layer, so --embed "
                f"({self.embed}) must equal --hidden ({self.hidden}); set --embed "
                f"{self.hidden} or drop --tie."
            )


@dataclass(frozen=True)
class Conditioning:
    """What a decoder reads besides its own tokens, fixed for a batch of sequences:
    the condition (B, C) for a peeky decoder, the memory (B, S, Hm) with its lengths (B,)
    for attention, and the memory's keys (``Attention.project_memory``), computed once.
    ``take`` picks rows (a beam search repeats and reorders its hypotheses)."""

    condition: np.ndarray | None = None
    memory: np.ndarray | None = None
    lengths: np.ndarray | None = None
    keys: np.ndarray | None = None

    def take(self, rows: np.ndarray) -> Conditioning:
        """The rows ``rows`` (an index array) of everything held."""
        arrays = (self.condition, self.memory, self.lengths, self.keys)
        return Conditioning(*(None if a is None else a[rows] for a in arrays))


def take_state(state: State, rows: np.ndarray) -> State:
    """The rows ``rows`` of every layer's state (h, or an LSTM's (h, c))."""
    return [
        tuple(part[rows] for part in layer) if isinstance(layer, tuple) else layer[rows]
        for layer in state
    ]


class DecoderGradients(NamedTuple):
    """What ``Decoder.backward`` hands back to whatever produced the decoder's inputs."""

    condition: np.ndarray | None  # dL/dc (B, C), None without a condition
    memory: np.ndarray | None  # dL/dmemory (B, S, Hm), None without attention; 0 at padding


class Decoder:
    """A language model over the target y_1..y_T, conditioned on a vector c (B, C) and
    optionally attending over a memory m_1..m_S (B, S, Hm), trained with teacher forcing:
    it reads y_0 (the start token) .. y_{T-1} and predicts y_1 .. y_T.

        x_t   = E[y_{t-1}]                                 embedding          (B, T, D)
        x_t   = [dropout(x_t); c]        (peeky)           the condition at every step,
                                                           into the first layer (B, T, D + C)
        h^l_0 = tanh(c W^l + b^l)        (bridge)          each layer's initial state,
                                                           else 0              (B, H)
        h_t   = top of the stacked cells, dropout between layers                (B, T, H)
        a_t   = softmax_s score(h_t, m_s), ctx_t = sum_s a_{t,s} m_s   (attention) (B, T, Hm)
        o_t   = tanh([ctx_t; h_t] W_o + b_o)   (attention; else o_t = h_t)      (B, T, H)
        z_t   = dropout(o_t) W_y + b_y                     logits              (B, T, V)
        loss  = mean over real positions t of -log softmax(z_t)[y_t]

    - **Initial state** (``bridge``): h^l_0 = tanh(c W^l + b^l), one bridge per layer
      (Cho et al. 2014 start their decoder from tanh(V' c)); an LSTM's cell starts at
      c^l_0 = 0 and only h^l_0 carries the condition, as Deep Learning from Scratch 2's
      decoder sets only h: the first step's gates all read h_0 W_h, so one bridge a layer
      is enough. Without a bridge every layer starts from zeros.
    - **Peeky** (Deep Learning from Scratch 2's PeekyDecoder; Cho et al. 2014 also feed c
      to every step): the condition is concatenated to the first layer's input at every
      step, so that layer's W_x is (D + C, G): rows D.. read the condition. The dropout
      before that layer draws its mask over the D embedding units only.
    - **Attention** (Luong et al. 2015's global attention, after the recurrent layers, so
      the whole target still runs through them in one pass): scores "dot", "general" or
      "additive" (Bahdanau et al. 2015's score, computed here from h_t rather than from
      the previous state) over the memory's real steps (``nn.Attention``), then Luong's
      attentional hidden state o_t (``nn.Bridge`` named "combine", bias included).
    - **Output**: W_y = E^T when ``config.tie`` (Press & Wolf 2017), which needs D = H.
      Dropout as the language model's: on the embeddings, between layers and before the
      output layer (``config.dropout``, ``config.dropout_kind``).

    With no condition and no memory this is ``elman.lm.LanguageModel`` read from a zero
    state (``--state reset``): the same parameters under the same names ("embed.W",
    "rnn.0.W_x", ..., "output.W", "output.b"), and its dropout draws the same masks in
    the same order. The conditioning adds "bridge.l.W", "bridge.l.b", the peeky rows of
    "rnn.0.W_x", "attention.W_a" (or "attention.W_q", "attention.W_k", "attention.v")
    and "combine.W", "combine.b". With the bridges' and the peeky rows' weights zero, the
    loss and every other gradient are the language model's.

    The decoder is a block, not a whole model: its owner packs ``layers()`` into one
    buffer (``nn.Network.pack`` with ``skip=tied()``), then calls ``tie``, and lists
    ``dropouts`` among its own. ``forward``/``backward`` train; ``apply``, ``nll``,
    ``prepare`` and ``step`` are pure (nothing cached, no dropout) for evaluation and
    decoding, and ``step`` one token at a time agrees with ``apply``.
    """

    def __init__(
        self,
        config: DecoderConfig | ModelConfig,
        rng: np.random.Generator,
        dropout_rng: np.random.Generator,
        condition_size: int = 0,
        bridge: bool = False,
        peeky: bool = False,
        attention: str = "none",
        memory_size: int = 0,
        attention_size: int = 0,
    ) -> None:
        if config.vocab_size < 1:
            raise ValueError("ModelConfig.vocab_size must be set from the vocabulary")
        config = extended(config, DecoderConfig)
        if (bridge or peeky) and condition_size < 1:
            raise ValueError(
                f"a bridge or peeky decoder needs a condition, got size {condition_size}"
            )
        if attention not in ATTENTIONS:
            raise ValueError(f"attention must be one of {ATTENTIONS}, got {attention!r}")
        if attention != "none" and memory_size < 1:
            raise ValueError(f"attention needs a memory, got size {memory_size}")
        self.config = config
        self.condition_size = condition_size
        self.peeky = peeky
        self.memory_size = memory_size if attention != "none" else 0
        V, D, H, C = config.vocab_size, config.embed, config.hidden, condition_size
        # The language model's parameters first, drawn in its order.
        self.embedding = Embedding(nninit.uniform(rng, (V, D), EMBED_SCALE))
        self.rnns: list[RNN | LSTM | GRU] = [
            nninit.recurrent_layer(config.cell, (D + C if peeky else D) if i == 0 else H, H, rng)
            for i in range(config.layers)
        ]
        W_y = None if config.tie else nninit.uniform(rng, (H, V), EMBED_SCALE)
        self.output = Affine(np.zeros((D, V)) if W_y is None else W_y, np.zeros(V))
        self.bridges = [nninit.bridge(rng, C, H) for _ in range(config.layers)] if bridge else []
        self.attention: Attention | None = None
        self.combine: Bridge | None = None
        if attention != "none":
            self.attention = nninit.attention(rng, attention, H, memory_size, attention_size or H)
            self.combine = nninit.bridge(rng, memory_size + H, H)
        self.loss_layer = SoftmaxCrossEntropy(reuse_buffer=True)
        # Before each layer (on the embeddings, then between layers) and before the output.
        self.dropouts = [
            Dropout(config.dropout, config.dropout_kind, dropout_rng)
            for _ in range(config.layers + 1)
        ]
        # (B, whether a condition was given, the mask the output layer read at)
        self.cache: tuple[int, bool, np.ndarray | None] | None = None

    # Parameters ---------------------------------------------------------------------

    def layers(self) -> list[tuple[str, Any]]:
        """The layers with parameters, named as in the owner's ``params``."""
        named = [("embed", self.embedding), *((f"rnn.{i}", r) for i, r in enumerate(self.rnns))]
        named.append(("output", self.output))
        named += [(f"bridge.{i}", bridge) for i, bridge in enumerate(self.bridges)]
        if self.attention is not None:
            named += [("attention", self.attention), ("combine", self.combine)]
        return named

    def tied(self) -> frozenset[str]:
        """Names that are views of another parameter, for ``pack(skip=...)``."""
        return frozenset({"output.W"} if self.config.tie else ())

    def tie(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        """After packing: the output layer reads the embedding matrix, W_y = E^T, through
        a transposed view, and its gradient adds into the embedding's."""
        if self.config.tie:
            self.output.params["W"] = params["embed.W"].T
            self.output.grads["W"] = grads["embed.W"].T

    def conditioning_weights(self) -> list[tuple[np.ndarray, str]]:
        """The arrays through which the condition enters (each bridge's W and b, and the
        peeky rows of the first layer's W_x), with their names: all zero, the decoder is
        the unconditioned language model."""
        arrays = []
        for i, bridge in enumerate(self.bridges):
            arrays += [(bridge.params["W"], f"bridge.{i}.W"), (bridge.params["b"], f"bridge.{i}.b")]
        if self.peeky:
            arrays.append((self.rnns[0].params["W_x"][self.config.embed :], "rnn.0.W_x[D:]"))
        return arrays

    # Training -----------------------------------------------------------------------

    def forward(
        self,
        inputs: np.ndarray,
        targets: np.ndarray,
        mask: np.ndarray | None = None,
        condition: np.ndarray | None = None,
        memory: np.ndarray | None = None,
        memory_lengths: np.ndarray | None = None,
    ) -> float:
        """Mean cross-entropy (nats per real token) of ``targets`` read from ``inputs``,
        both (B, T) (the targets shifted by one: ``inputs[:, 0]`` is the start token);
        ``mask`` (B, T) marks the real positions. ``loss_layer.total`` and ``.count`` then
        hold the summed loss and the number of tokens."""
        B, T = inputs.shape
        condition, memory = self._checked(B, condition, memory)
        x = self.embedding.forward(inputs)  # (B, T, D)
        states = self._initial_states(B, condition, training=True)
        for i, (dropout, rnn, state0) in enumerate(
            zip(self.dropouts, self.rnns, states, strict=False)
        ):
            x = dropout.forward(x)
            if i == 0 and self.peeky:
                x = _with_condition(x, condition)  # (B, T, D + C)
            rnn.reset_state()
            x = rnn.forward(x, state0)
            rnn.reset_state()  # nothing carried: each batch starts from its condition
        if self.attention is not None:
            lengths = _lengths(memory, memory_lengths)
            contexts = self.attention.forward(x, memory, lengths)  # (B, T, Hm)
            x = self.combine.forward(np.concatenate([contexts, x], axis=-1))  # (B, T, H)
        x = self.dropouts[-1].forward(x)  # (B, T, H)
        real = None if mask is None else mask.astype(bool)
        if real is not None:
            # The output layer, the largest product, and the loss only at the real positions
            # (N of them): a batch of sentences of 8 to 18 tokens is a quarter padding.
            x, targets = x[real], targets[real]  # (N, H), (N,)
        logits = self.output.forward(x)  # (B, T, V) or (N, V)
        self.cache = (B, condition is not None, real)
        return self.loss_layer.forward(logits, targets)

    def backward(self, dout: float = 1.0) -> DecoderGradients:
        """Add the gradient of the last ``forward``'s loss (times ``dout``) to the
        parameters' ``grads``; return the gradients of the condition and of the memory."""
        B, conditioned, real = self.cache
        D, Hm = self.config.embed, self.memory_size
        dx = self.output.backward(self.loss_layer.backward(dout))
        if real is not None:  # zero at the padding, which the loss did not read
            dx_real, dx = dx, np.zeros((*real.shape, dx.shape[-1]), dx.dtype)
            dx[real] = dx_real
        dx = self.dropouts[-1].backward(dx)
        dmemory = None
        if self.attention is not None:
            dcombined = self.combine.backward(dx)  # (B, T, Hm + H)
            dqueries, dmemory = self.attention.backward(dcombined[..., :Hm])
            dx = dcombined[..., Hm:] + dqueries
        dcondition = np.zeros((B, self.condition_size), dx.dtype) if conditioned else None
        for i in reversed(range(len(self.rnns))):
            dx, dstate0 = self.rnns[i].backward(dx)
            if self.bridges:
                dh0 = dstate0[0] if isinstance(dstate0, tuple) else dstate0  # (B, H)
                dcondition += self.bridges[i].backward(dh0)
            if i == 0 and self.peeky:
                dcondition += dx[..., D:].sum(axis=1)
                dx = dx[..., :D]
            dx = self.dropouts[i].backward(dx)
        self.embedding.backward(dx)
        return DecoderGradients(dcondition, dmemory)

    # Evaluation and decoding (pure) --------------------------------------------------

    def prepare(
        self,
        batch: int,
        condition: np.ndarray | None = None,
        memory: np.ndarray | None = None,
        memory_lengths: np.ndarray | None = None,
    ) -> tuple[Conditioning, State]:
        """What a batch of B sequences is decoded from: its ``Conditioning`` (the memory's
        keys computed once) and each layer's initial state. Pure."""
        B = batch
        condition, memory = self._checked(B, condition, memory)
        keys = lengths = None
        if self.attention is not None:
            lengths = _lengths(memory, memory_lengths)
            keys = self.attention.project_memory(memory)
        conditioning = Conditioning(condition if self.peeky else None, memory, lengths, keys)
        return conditioning, self._initial_states(B, condition, training=False)

    def apply(
        self, inputs: np.ndarray, conditioning: Conditioning, state: State
    ) -> tuple[np.ndarray, np.ndarray | None, State]:
        """Token ids (B, T) from ``prepare``'s conditioning and state -> logits (B, T, V),
        attention weights (B, T, S) or None, and the state after the last step. Pure."""
        x = self.embedding.apply(inputs)
        new_state = []
        for i, (rnn, layer_state) in enumerate(zip(self.rnns, state, strict=True)):
            if i == 0 and self.peeky:
                x = _with_condition(x, conditioning.condition)
            x, layer_state = rnn.apply(x, layer_state)
            new_state.append(layer_state)
        weights = None
        if self.attention is not None:
            c = conditioning
            contexts, weights = self.attention.apply(x, c.memory, c.lengths, c.keys)
            x = np.tanh(self.combine.affine.apply(np.concatenate([contexts, x], axis=-1)))
        return self.output.apply(x), weights, new_state

    def nll(
        self,
        inputs: np.ndarray,
        targets: np.ndarray,
        mask: np.ndarray | None = None,
        condition: np.ndarray | None = None,
        memory: np.ndarray | None = None,
        memory_lengths: np.ndarray | None = None,
    ) -> tuple[float, int]:
        """(summed cross-entropy in nats, tokens scored): what ``forward`` computes, pure."""
        conditioning, state = self.prepare(len(inputs), condition, memory, memory_lengths)
        logits, _, _ = self.apply(inputs, conditioning, state)
        return cross_entropy(logits, targets, mask)

    def step(
        self, ids: np.ndarray, conditioning: Conditioning, state: State
    ) -> tuple[np.ndarray, np.ndarray | None, State]:
        """One token per sequence, pure: ids (B,) -> logits (B, V), attention weights
        (B, S) or None, and the new state; ``apply`` with T = 1."""
        x = self.embedding.params["W"][ids]  # (B, D)
        new_state = []
        for i, (rnn, layer_state) in enumerate(zip(self.rnns, state, strict=True)):
            if i == 0 and self.peeky:
                x = np.concatenate([x, conditioning.condition], axis=-1)
            x, layer_state = rnn.step(x, layer_state)
            new_state.append(layer_state)
        weights = None
        if self.attention is not None:
            c = conditioning
            context, weights = self.attention.step(x, c.memory, c.lengths, c.keys)
            x = np.tanh(self.combine.affine.apply(np.concatenate([context, x], axis=-1)))
        return self.output.apply(x), weights, new_state

    # Helpers --------------------------------------------------------------------------

    def _initial_states(self, batch: int, condition: np.ndarray | None, training: bool) -> State:
        """Each layer's initial state: from its bridge (an LSTM's cell at 0), or zeros."""
        states = []
        for i, rnn in enumerate(self.rnns):
            zeros = rnn.initial_state(batch)
            if not self.bridges:
                states.append(zeros)
                continue
            bridge = self.bridges[i]
            c = condition
            h0 = bridge.forward(c) if training else np.tanh(bridge.affine.apply(c))
            states.append((h0, zeros[1]) if isinstance(zeros, tuple) else h0)
        return states

    def _checked(
        self, batch: int, condition: np.ndarray | None, memory: np.ndarray | None
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The condition and memory in the parameters' dtype; refuses what the decoder was
        not built for, or of a wrong shape."""
        C = self.condition_size
        needs_condition = bool(self.bridges) or self.peeky
        if needs_condition and condition is None:
            raise ValueError(f"this decoder reads a condition of size {C}; got none")
        if condition is not None and (not needs_condition or condition.shape != (batch, C)):
            expected = f"({batch}, {C})" if needs_condition else "none"
            raise ValueError(f"expected a condition of shape {expected}, got {condition.shape}")
        if self.attention is None and memory is not None:
            raise ValueError("this decoder has no attention, so it reads no memory")
        if self.attention is not None and (
            memory is None or memory.ndim != 3 or memory.shape[0] != batch
        ):
            shape = None if memory is None else memory.shape
            raise ValueError(
                f"expected a memory of shape ({batch}, S, {self.memory_size}), got {shape}"
            )
        dtype = self.embedding.params["W"].dtype
        return tuple(
            None if a is None else a.astype(dtype, copy=False) for a in (condition, memory)
        )


def _with_condition(x: np.ndarray, condition: np.ndarray) -> np.ndarray:
    """[x_t; c] at every step: x (B, T, D), c (B, C) -> (B, T, D + C)."""
    B, T, D = x.shape
    out = np.empty((B, T, D + condition.shape[1]), x.dtype)
    out[..., :D] = x
    out[..., D:] = condition[:, None, :]
    return out


def _lengths(memory: np.ndarray, lengths: np.ndarray | None) -> np.ndarray:
    """The memory's lengths, all of it when not given."""
    if lengths is None:
        return np.full(memory.shape[0], memory.shape[1], np.int64)
    return np.asarray(lengths, np.int64)
