"""Many-to-many, aligned: one tag per word (part of speech, named entities).

    x_t = [E[w_t] | c(w_t)]                 word embedding, and optionally     (B, T, D + 2C)
                                            character features of the word
    h_t = encoder(x)_t                      (bi)LSTM/GRU stack                 (B, T, H or 2H)
    y_t = h_t W + b                         affine at every word               (B, T, K)
    loss = mean over real words of -log softmax(y_t)[tag_t]   (padding masked out)

The character features c(w) are the final states of a bidirectional recurrent
layer reading the word's characters, forwards and backwards (Ling et al. 2015;
Plank et al. 2016; Lample et al. 2016): they see prefixes, suffixes and
capitals, so a word the vocabulary lacks (it is <unk> to the embedding) still
gets a useful representation. Each distinct word of a batch is read once.

Word dropout (Kiperwasser & Goldberg 2016): in training, a word seen n times is
replaced by <unk> with probability alpha / (alpha + n), so the <unk> embedding is
learnt from words like the rare ones it will stand for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from elman.blocks.encoder import Encoder, EncoderConfig
from elman.config import (
    ModelConfig,
    extended,
    field_help,
    require_choice,
    require_finite_fields,
    require_positive,
)
from elman.data.conllu import TAG_COLUMNS
from elman.errors import ElmanError
from elman.nn import Affine, Dropout, Embedding, Pooling, SoftmaxCrossEntropy
from elman.nn import init as nninit
from elman.nn.init import EMBED_SCALE
from elman.nn.network import Network
from elman.tag.data import SPLITS, TaggedBatch


@dataclass
class TaggerConfig:
    """What a tagger adds to the encoder's shape (``EncoderConfig``) and the training
    settings (``TrainConfig``)."""

    tag_column: str = field(
        default="upos",
        metadata=field_help(
            "the CoNLL-U column to predict: universal (UPOS) or language-specific (XPOS) "
            "part of speech",
            choices=tuple(TAG_COLUMNS),
        ),
    )
    chars: bool = field(
        default=True,
        metadata=field_help(
            "add character features to each word: a bidirectional layer over its characters, "
            "for words the vocabulary lacks"
        ),
    )
    char_embed: int = field(default=32, metadata=field_help("character embedding size"))
    char_hidden: int = field(
        default=32, metadata=field_help("hidden size of each direction of the character layer")
    )
    word_dropout: float = field(
        default=1.0,
        metadata=field_help(
            "alpha: in training, a word seen n times becomes <unk> with probability "
            "alpha / (alpha + n) (0: never)"
        ),
    )
    lowercase: bool = field(
        default=True,
        metadata=field_help(
            "look words up in lower case (the character features still see capitals)"
        ),
    )
    split: str = field(
        default="punctuation",
        metadata=field_help(
            "how a sentence to tag (elman tag predict, the playground) is split into words: "
            "punctuation (at whitespace, then the punctuation at a word's ends apart and "
            "clitics such as n't, unless the vocabulary holds the form whole, as treebanks "
            "write them) or whitespace (words as they are given)",
            choices=SPLITS,
        ),
    )

    def __post_init__(self) -> None:
        require_finite_fields(self)
        require_choice("tag_column", self.tag_column, tuple(TAG_COLUMNS))
        require_choice("split", self.split, SPLITS)
        for name in ("char_embed", "char_hidden"):
            require_positive(name, getattr(self, name))
        if self.word_dropout < 0:
            raise ElmanError(f"--word-dropout must be zero or positive, got {self.word_dropout}.")

    @property
    def char_features(self) -> int:
        """Size of a word's character features: 2 * char_hidden, or 0 without them."""
        return 2 * self.char_hidden if self.chars else 0


class Tagger(Network):
    """Word embedding (+ character features) -> encoder -> dropout -> affine at each word
    -> masked softmax cross-entropy (module doc). Parameters are named ``"embed.W"``,
    ``"char_embed.W"``, ``"char_rnn.0.forward.W_x"`` ..., ``"rnn.0.forward.W_x"`` ...,
    ``"output.W"`` and ``"output.b"``, in one flat buffer (``nn.Network``)."""

    def __init__(
        self,
        config: EncoderConfig | ModelConfig,
        tagger_config: TaggerConfig,
        chars: int,
        tags: int,
        seed: int = 0,
        dtype: np.dtype | type = np.float32,
    ) -> None:
        if config.vocab_size < 1:
            raise ValueError("ModelConfig.vocab_size must be set from the vocabulary")
        config = extended(config, EncoderConfig)
        if tags < 1:
            raise ElmanError("a tagger needs at least one tag; give tagged sentences.")
        self.config, self.tagger_config, self.tags = config, tagger_config, tags
        rng = np.random.default_rng(seed)
        self.dropout_rng = dropout_rng = np.random.default_rng([seed, 1])
        V, D, K = config.vocab_size, config.embed, tags
        self.embedding = Embedding(nninit.uniform(rng, (V, D), EMBED_SCALE))
        self.char_embedding = self.char_encoder = self.char_pooling = None
        if tagger_config.chars:
            char_config = EncoderConfig(
                vocab_size=chars,
                embed=tagger_config.char_embed,
                hidden=tagger_config.char_hidden,
                cell=config.cell,
                bidirectional=True,
            )
            self.char_embedding = Embedding(
                nninit.uniform(rng, (chars, tagger_config.char_embed), EMBED_SCALE)
            )
            self.char_encoder = Encoder(char_config, tagger_config.char_embed, rng, dropout_rng)
            self.char_pooling = Pooling("final", split=tagger_config.char_hidden)
        self.encoder = Encoder(config, D + tagger_config.char_features, rng, dropout_rng)
        self.dropout = Dropout(config.dropout, config.dropout_kind, dropout_rng)
        self.output = Affine(nninit.uniform(rng, (config.output_size, K), EMBED_SCALE), np.zeros(K))
        self.loss_layer = SoftmaxCrossEntropy()
        chars = [] if self.char_encoder is None else self.char_encoder.dropouts
        self.dropouts = [*chars, *self.encoder.dropouts, self.dropout]
        self.pack(self.layers(), dtype)
        self.loss_sum, self.loss_count = 0.0, 0.0
        self._forms: tuple[np.ndarray, tuple[int, int]] | None = None  # (forms, features shape)

    def layers(self) -> list[tuple[str, Any]]:
        """The layers with parameters, named as in ``params``."""
        chars = []
        if self.char_encoder is not None:
            chars = [("char_embed", self.char_embedding), *self.char_encoder.layers("char_rnn")]
        return [
            ("embed", self.embedding),
            *chars,
            *self.encoder.layers("rnn"),
            ("output", self.output),
        ]

    def logits(self, batch: TaggedBatch) -> np.ndarray:
        """Tag logits (B, T, K) of every word of the batch (padding included); pure (no
        dropout, nothing cached), so one model can serve several callers at once."""
        x = self.embedding.apply(batch.ids)  # (B, T, D)
        if self.char_encoder is not None:
            cs = self.char_embedding.apply(batch.chars)  # (U, C, Dc)
            cs = self.char_encoder.apply(cs, batch.char_lengths)  # (U, C, 2Hc)
            features = self.char_pooling.apply(cs, batch.char_lengths)  # (U, 2Hc)
            x = np.concatenate([x, features[batch.forms]], axis=-1)  # (B, T, D + 2Hc)
        return self.output.apply(self.encoder.apply(x, batch.lengths))

    def forward(self, batch: TaggedBatch) -> float:
        """Mean cross-entropy per real word of the batch's tags."""
        x = self.embedding.forward(batch.ids)  # (B, T, D)
        if self.char_encoder is not None:
            cs = self.char_embedding.forward(batch.chars)  # (U, C, Dc)
            cs = self.char_encoder.forward(cs, batch.char_lengths)  # (U, C, 2Hc)
            features = self.char_pooling.forward(cs, batch.char_lengths)  # (U, 2Hc)
            self._forms = (batch.forms, features.shape)
            x = np.concatenate([x, features[batch.forms]], axis=-1)  # (B, T, D + 2Hc)
        hs = self.encoder.forward(x, batch.lengths)
        logits = self.output.forward(self.dropout.forward(hs))
        loss = self.loss_layer.forward(logits, batch.tags, batch.mask)
        self.loss_sum, self.loss_count = self.loss_layer.total, float(self.loss_layer.count)
        return loss

    def backward(self) -> None:
        """Add the gradient of the last ``forward``'s loss to ``grads``."""
        dhs = self.dropout.backward(self.output.backward(self.loss_layer.backward()))
        dx = self.encoder.backward(dhs)
        D = self.config.embed
        self.embedding.backward(dx[..., :D])
        if self.char_encoder is not None:
            # A word's features were used wherever it occurs: sum their gradients.
            forms, shape = self._forms
            dfeatures = np.zeros(shape, dx.dtype)  # (U, 2Hc)
            np.add.at(dfeatures, forms.ravel(), dx[..., D:].reshape(-1, shape[1]))
            dcs = self.char_encoder.backward(self.char_pooling.backward(dfeatures))
            self.char_embedding.backward(dcs)
