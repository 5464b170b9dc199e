"""Many-to-many with delay: read a whole source sequence, then write a target sequence of
another length (Sutskever et al. 2014; Cho et al. 2014; with attention, Bahdanau et al.
2015 and Luong et al. 2015).

    x_s = E_src[u_s]                             source embedding             (B, S, D)
    m   = encoder(x)                             (bi)RNN/LSTM/GRU stack       (B, S, Hm)
    c   = [m_fwd at the last real step; m_rev at step 0]   the source's summary (B, Hm)
    decoder(y_0..y_{T-1} | c, m)                 blocks.decoder.Decoder       (B, T, V)
        h_0 = tanh(c W + b)                      the bridge, per decoder layer
        attention over m's real steps, Luong's tanh([ctx_t; h_t] W + b), output
    loss = mean over the real target tokens (<eos> included) of -log p(y_t | y_<t, source)

Hm is H, or 2H with a bidirectional encoder. The source is right-padded and masked
throughout: the encoder reads each sequence to its length (``blocks.encoder``), the
summary takes each direction's final state, and attention never weighs the padding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from elman.blocks.decoder import ATTENTIONS, Conditioning, Decoder, DecoderConfig, State
from elman.blocks.encoder import Encoder, EncoderConfig
from elman.config import (
    ModelConfig,
    extended,
    field_help,
    require_choice,
    require_finite_fields,
)
from elman.errors import ElmanError
from elman.memory import TRAINING_COPIES, require_memory
from elman.nn import Embedding, Pooling
from elman.nn import init as nninit
from elman.nn.init import EMBED_SCALE
from elman.nn.loss import cross_entropy
from elman.nn.network import Network
from elman.translate.data import MAX_TARGET_TOKENS

FORMATS = ("tsv", "qa")
# The widest beam: each hypothesis is a row of every decoding step, and beams wider than
# about 10 rarely find better translations (Koehn & Knowles 2017 find them worse).
MAX_BEAM = 20
# The longest translation, as a multiple of its source's tokens: words into characters
# are about 6 to 1. With max_extra it is capped anyway at MAX_TARGET_TOKENS.
MAX_RATIO = 10.0


@dataclass
class TranslatorModelConfig(EncoderConfig, DecoderConfig):
    """A translator's shape: one recurrent stack for both sides, an encoder's (read one
    way or both) and a decoder's (its output layer tied to its embedding or not)."""


@dataclass
class TranslateConfig:
    """What a translator adds to the shape (``ModelConfig``, which describes both the
    encoder and the decoder) and to the training settings (``TrainConfig``)."""

    source_vocab_size: int = field(
        default=0,
        metadata=field_help("number of source tokens (set from the vocabulary)", cli=False),
    )
    attention: str = field(
        default="general",
        metadata=field_help(
            "attention over the encoder's outputs: Luong's dot or general score, "
            "Bahdanau's additive score, or none (the decoder then reads the source only "
            "through its initial state)",
            choices=ATTENTIONS,
        ),
    )
    attention_size: int = field(
        default=0, metadata=field_help("the additive score's hidden size (0: --hidden)")
    )
    bridge: bool = field(
        default=True,
        metadata=field_help(
            "start each decoder layer from tanh(c W + b) of the source's summary c (the "
            "encoder's final state of each direction); off: from zeros"
        ),
    )
    peeky: bool = field(
        default=False,
        metadata=field_help(
            "also feed the summary to the decoder's first layer at every step (Deep Learning "
            "from Scratch 2's peeky decoder)"
        ),
    )
    reverse_source: bool = field(
        default=False,
        metadata=field_help(
            "read each source backwards (Sutskever et al. 2014); recorded in the checkpoint "
            "and applied when translating"
        ),
    )
    format: str = field(
        default="tsv",
        metadata=field_help(
            "what a --data line holds: source<TAB>target, or the book's question_answer "
            "(Deep Learning from Scratch 2's addition.txt and date.txt)",
            choices=FORMATS,
        ),
    )
    tokenized: bool = field(
        default=False,
        metadata=field_help(
            "the target text is already tokenised (tokens between spaces, as Moses' *.tok.* "
            "files): BLEU scores it as it is (sacreBLEU tokenize='none'), else after "
            "sacreBLEU's 13a tokenisation"
        ),
    )
    valid_fraction: float = field(
        default=0.05,
        metadata=field_help("part of --data held out for validation (seeded split)"),
    )
    test_fraction: float = field(
        default=0.1, metadata=field_help("part of --data held out for testing (seeded split)")
    )
    split_seed: int = field(
        default=0,
        metadata=field_help("seed of the split of --data (recorded in the checkpoint)"),
    )
    beam: int = field(
        default=5,
        metadata=field_help(
            "beam width when translating (1: greedy); eval and predict take --beam too"
        ),
    )
    length_penalty: float = field(
        default=1.0,
        metadata=field_help(
            "beam search ranks finished translations by log-probability / length^alpha "
            "(0: the sum, which favours short ones; 1: per token)"
        ),
    )
    max_ratio: float = field(
        default=2.0,
        metadata=field_help(
            "a translation ends after at most max_ratio x source tokens + max_extra tokens"
        ),
    )
    max_extra: int = field(
        default=10, metadata=field_help("see --max-ratio: tokens allowed beyond the ratio")
    )

    def __post_init__(self) -> None:
        require_finite_fields(self)
        require_choice("attention", self.attention, ATTENTIONS)
        require_choice("format", self.format, FORMATS)
        for name in ("attention_size", "source_vocab_size", "split_seed"):
            if getattr(self, name) < 0:
                raise ElmanError(
                    f"--{name.replace('_', '-')} must be zero or positive, got "
                    f"{getattr(self, name)}."
                )
        check_beam(self.beam)
        if self.length_penalty < 0:
            raise ElmanError(
                f"--length-penalty must be zero or positive, got {self.length_penalty}."
            )
        if not 0 <= self.max_ratio <= MAX_RATIO:
            raise ElmanError(
                f"--max-ratio must be between 0 and {MAX_RATIO:g} (a translation that many "
                f"times its source's tokens; words into characters are about 6), got "
                f"{self.max_ratio:g}."
            )
        if not 0 <= self.max_extra <= MAX_TARGET_TOKENS:
            raise ElmanError(
                f"--max-extra must be between 0 and {MAX_TARGET_TOKENS:,} (the most tokens a "
                f"translation may have), got {self.max_extra:,}."
            )
        for name in ("valid_fraction", "test_fraction"):
            value = getattr(self, name)
            if not 0 <= value < 1:
                raise ElmanError(
                    f"--{name.replace('_', '-')} must be at least 0 and below 1, got {value}."
                )
        if self.valid_fraction + self.test_fraction >= 1:
            raise ElmanError(
                f"--valid-fraction and --test-fraction add up to "
                f"{self.valid_fraction + self.test_fraction}, leaving nothing to train on; "
                "make them smaller."
            )
        if self.attention == "none" and not (self.bridge or self.peeky):
            raise ElmanError(
                "with --attention none, --no-bridge and no --peeky the decoder would never "
                "read the source; keep the bridge, add --peeky or choose an attention."
            )


def check_beam(beam: int) -> None:
    """Refuse a beam width decoding cannot use (``MAX_BEAM``)."""
    if not 1 <= beam <= MAX_BEAM:
        raise ElmanError(
            f"--beam must be between 1 (greedy) and {MAX_BEAM}, got {beam:,}; a wider beam "
            "costs time and memory in proportion and rarely finds a better translation."
        )


def check_translator_config(config: TranslatorModelConfig, translate: TranslateConfig) -> None:
    """Refuse shapes a translator cannot have, before any data is read."""
    memory = config.output_size
    if translate.attention == "dot" and memory != config.hidden:
        raise ElmanError(
            f"the dot score compares the decoder's state (--hidden {config.hidden}) with the "
            f"encoder's outputs ({memory}: both directions of a bidirectional encoder), so "
            "their sizes must agree; use --attention general or additive, or drop "
            "--bidirectional."
        )


def parameter_count(config: ModelConfig, translate: TranslateConfig) -> int:
    """How many parameters a translator of these settings has, without building it:
    the two embeddings, the encoder (both directions), the bridges, the decoder (with the
    peeky rows), the attention's score and combining layer, and the output layer."""
    V, Vs, D, H, g = (config.vocab_size, translate.source_vocab_size, config.embed,
                      config.hidden, nninit.GATES[config.cell])  # fmt: skip
    Hm, L = config.output_size, config.layers
    biases = 2 if config.cell == "gru" else 1  # the GRU keeps b_x and b_h apart

    def recurrent(inputs: int) -> int:
        return g * (inputs + H + biases) * H

    directions = 2 if config.bidirectional else 1
    encoder = directions * sum(recurrent(D if i == 0 else Hm) for i in range(L))
    first = D + (Hm if translate.peeky else 0)
    decoder = sum(recurrent(first if i == 0 else H) for i in range(L))
    bridges = L * (Hm + 1) * H if translate.bridge else 0
    A = translate.attention_size or H
    score = {"none": 0, "dot": 0, "general": H * Hm, "additive": (H + Hm + 1) * A}
    attention = score[translate.attention]
    if translate.attention != "none":
        attention += (Hm + H + 1) * H  # the combining layer, tanh([ctx; h] W_o + b_o)
    output = (0 if config.tie else H * V) + V
    return (Vs + V) * D + encoder + bridges + decoder + attention + output


def memory_needed(
    config: ModelConfig,
    translate: TranslateConfig,
    source_tokens: int,
    target_tokens: int = 0,
    train_batch: int = 0,
    decode_batch: int = 0,
    beam: int = 1,
) -> int:
    """Bytes a translator needs, about: its weights (and the four further copies training
    keeps, with ``train_batch``); the activations of one training step on
    ``train_batch`` pairs of ``source_tokens`` and ``target_tokens`` (each layer's cached
    gates and states, the attention weights, the logits, their softmax and its gradient,
    twice over for the backward pass); and decoding ``decode_batch`` sources of
    ``source_tokens`` with ``beam`` hypotheses each (``decode.beam_search``: the memory
    repeated per hypothesis, the tokens and attention weights written, float64
    log-probabilities over the vocabulary)."""
    F32, F64, T_MAX = 4, 8, MAX_TARGET_TOKENS
    V, H, g = config.vocab_size, config.hidden, nninit.GATES[config.cell]
    Hm, L, D = config.output_size, config.layers, config.embed
    S, T = source_tokens, target_tokens + 1  # the target's <eos>
    copies = TRAINING_COPIES if train_batch else 1
    needed = parameter_count(config, translate) * F32 * copies
    attends = translate.attention != "none"
    if train_batch:
        B = train_batch
        encoder = B * S * (D + L * ((g + 2) * H * (Hm // H) + Hm))
        decoder = B * T * (D + L * (g + 2) * H)
        attention = B * T * (2 * S + Hm + H) if attends else 0
        output = 3 * B * T * V
        needed += 2 * F32 * (encoder + decoder + attention + output)
    if decode_batch:
        rows = decode_batch * beam
        steps = min(math.floor(translate.max_ratio * S) + translate.max_extra, T_MAX + 1)
        needed += rows * S * 2 * Hm * F32  # the memory and its keys, per hypothesis
        needed += rows * steps * F64 * (1 + (S if attends else 0))  # tokens, weights written
        needed += rows * 3 * V * F64  # log-probabilities and the candidates of one step
    return needed


def check_memory(
    config: ModelConfig,
    translate: TranslateConfig,
    what: str,
    fix: str,
    source_tokens: int = 0,
    target_tokens: int = 0,
    train_batch: int = 0,
    decode_batch: int = 0,
    beam: int = 1,
) -> None:
    """Refuse ``what`` when ``memory_needed`` for these sizes is more than the memory
    available, naming ``fix``."""
    needed = memory_needed(
        config, translate, source_tokens, target_tokens, train_batch, decode_batch, beam
    )
    require_memory(needed, what, fix)


class Translator(Network):
    """Source embedding -> encoder -> summary -> conditional decoder (module doc).

    Parameters: ``"source_embed.W"``, ``"encoder.0.W_x"`` (``"encoder.0.forward.W_x"``
    and ``"encoder.0.reverse.W_x"`` when bidirectional), ..., then the decoder's,
    named as a language model's (``"embed.W"``, ``"rnn.0.W_x"``, ``"output.W"``, ...)
    with ``"bridge.l.W"``, ``"attention.W_a"``, ``"combine.W"`` (``blocks.decoder``); all
    in one flat buffer (``nn.Network``). ``config.vocab_size`` is the target vocabulary's
    size, ``translate.source_vocab_size`` the source's; ``config.tie`` ties the decoder's
    output layer to its embedding.

    Initialisation as the language model's: embeddings and output U(-0.1, 0.1),
    recurrent layers by ``nn.init.recurrent_layer``, bridges and the attentional layer
    Glorot uniform with zero biases.
    """

    def __init__(
        self,
        config: TranslatorModelConfig | ModelConfig,
        translate: TranslateConfig,
        seed: int = 0,
        dtype: np.dtype | type = np.float32,
    ) -> None:
        if config.vocab_size < 1 or translate.source_vocab_size < 1:
            raise ValueError("both vocabulary sizes must be set from the vocabularies")
        config = extended(config, TranslatorModelConfig)
        check_translator_config(config, translate)
        self.config, self.translate = config, translate
        self.bidirectional = config.bidirectional  # the encoder reads both ways
        self.tie = config.tie  # the decoder's output layer reads its embedding
        rng = np.random.default_rng(seed)
        self.dropout_rng = dropout_rng = np.random.default_rng([seed, 1])
        D, Hm = config.embed, config.output_size
        self.memory_size = Hm  # the encoder's outputs: H, or 2H both ways
        self.source_embedding = Embedding(
            nninit.uniform(rng, (translate.source_vocab_size, D), EMBED_SCALE)
        )
        self.encoder = Encoder(config, D, rng, dropout_rng)
        self.summary = Pooling("final", split=config.hidden if self.bidirectional else None)
        self.conditioned = translate.bridge or translate.peeky
        self.decoder = Decoder(
            config,
            rng,
            dropout_rng,
            condition_size=Hm if self.conditioned else 0,
            bridge=translate.bridge,
            peeky=translate.peeky,
            attention=translate.attention,
            memory_size=Hm,
            attention_size=translate.attention_size,
        )
        self.attends = translate.attention != "none"
        self.dropouts = [*self.encoder.dropouts, *self.decoder.dropouts]
        self.pack(self.layers(), dtype, skip=self.decoder.tied())
        self.decoder.tie(self.params, self.grads)
        self.lengths: np.ndarray | None = None  # the source lengths of the last forward

    def layers(self) -> list[tuple[str, object]]:
        """The layers with parameters, named as in ``params``."""
        return [
            ("source_embed", self.source_embedding),
            *self.encoder.layers("encoder"),
            *self.decoder.layers(),
        ]

    @property
    def loss_layer(self):
        """The decoder's cross-entropy: ``total`` and ``count`` of the last forward."""
        return self.decoder.loss_layer

    @property
    def loss_sum(self) -> float:
        """The summed loss of the last ``forward`` (nats)."""
        return self.loss_layer.total

    @property
    def loss_count(self) -> float:
        """The target tokens the last ``forward``'s loss is summed over."""
        return float(self.loss_layer.count)

    def dropout_inputs(self) -> list[tuple[str, int]]:
        """What each of ``dropouts`` masks, in the order ``forward`` draws the masks: the
        side whose steps it spans ("source" or "target") and its units. The encoder's
        layers' inputs, then the decoder's and its output's (a peeky decoder's first
        mask covers the embedding only). For an engine that draws the masks before the
        forward pass (the torch backend, a data-parallel process given no pairs)."""
        config = self.config
        encoder = [("source", config.embed)] + [("source", self.memory_size)] * (config.layers - 1)
        decoder = [("target", config.embed)] + [("target", config.hidden)] * config.layers
        return encoder + decoder

    def forward(
        self,
        source: np.ndarray,
        source_lengths: np.ndarray,
        inputs: np.ndarray,
        targets: np.ndarray,
        mask: np.ndarray | None = None,
    ) -> float:
        """Mean cross-entropy per real target token of ``targets`` (B, T) given the
        right-padded ``source`` (B, S) of ``source_lengths`` (B,), read with teacher
        forcing from ``inputs`` (B, T): <eos> (the start), then the targets but the last."""
        memory = self.encoder.forward(self.source_embedding.forward(source), source_lengths)
        summary = self.summary.forward(memory, source_lengths) if self.conditioned else None
        self.lengths = source_lengths
        return self.decoder.forward(
            inputs,
            targets,
            mask,
            condition=summary,
            memory=memory if self.attends else None,
            memory_lengths=source_lengths if self.attends else None,
        )

    def backward(self) -> None:
        """Add the gradient of the last ``forward``'s loss to ``grads``: through the
        decoder, then into the encoder from attention and from the summary."""
        given = self.decoder.backward()
        dmemory = given.memory
        if given.condition is not None:
            dsummary = self.summary.backward(given.condition)
            dmemory = dsummary if dmemory is None else dmemory + dsummary
        self.source_embedding.backward(self.encoder.backward(dmemory))

    # Pure: evaluation and decoding ----------------------------------------------------

    def encode(self, source: np.ndarray, source_lengths: np.ndarray) -> tuple[Conditioning, State]:
        """What the decoder reads for a batch of right-padded sources: its conditioning
        (summary, memory and keys) and initial state. Pure, without dropout."""
        memory = self.encoder.apply(self.source_embedding.apply(source), source_lengths)
        summary = self.summary.apply(memory, source_lengths) if self.conditioned else None
        return self.decoder.prepare(
            len(source),
            condition=summary,
            memory=memory if self.attends else None,
            memory_lengths=source_lengths if self.attends else None,
        )

    def step(
        self, ids: np.ndarray, conditioning: Conditioning, state: State
    ) -> tuple[np.ndarray, np.ndarray | None, State]:
        """One target token per sentence, from ``encode``'s conditioning and state: ids
        (B,) -> logits (B, V), attention weights (B, S) or None, the new state. Pure."""
        return self.decoder.step(ids, conditioning, state)

    def nll(
        self,
        source: np.ndarray,
        source_lengths: np.ndarray,
        inputs: np.ndarray,
        targets: np.ndarray,
        mask: np.ndarray | None = None,
    ) -> tuple[float, int]:
        """(summed cross-entropy in nats, target tokens): ``forward``'s figure, pure."""
        conditioning, state = self.encode(source, source_lengths)
        logits, _, _ = self.decoder.apply(inputs, conditioning, state)
        return cross_entropy(logits, targets, mask)
