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

import dataclasses
import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from elman.checkpoint import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    copy_tensors,
    read_checkpoint,
    write_checkpoint,
)
from elman.config import (
    ModelConfig,
    TrainConfig,
    field_help,
    from_dict,
    require_choice,
    require_finite_fields,
)
from elman.data.conllu import TAG_COLUMNS, Sentence
from elman.data.padded import bucket, mask_of, pad
from elman.data.tokenizers import EOS, UNK, CharTokenizer, WordTokenizer, tokenizer_from_json
from elman.encoder import Encoder
from elman.errors import ElmanError
from elman.metrics import Scores, confusion_matrix, scores
from elman.model import EMBED_SCALE
from elman.nn import Affine, Dropout, Embedding, Pooling, SoftmaxCrossEntropy
from elman.nn import init as nninit
from elman.nn.parameters import pack_parameters
from elman.supervised import fit

TAGGER = "tagger"  # the checkpoint kind
# Character features read at most this many characters from each end of a word: the
# prefix and suffix carry what matters for the tag, and a batch is as slow as its
# longest word (URLs reach 100 characters).
WORD_ENDS = 10


@dataclass
class TaggerConfig:
    """What a tagger adds to the encoder's shape (``ModelConfig``) and the training
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

    def __post_init__(self) -> None:
        require_finite_fields(self)
        require_choice("tag_column", self.tag_column, tuple(TAG_COLUMNS))
        for name in ("char_embed", "char_hidden"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ElmanError(
                    f"--{name.replace('_', '-')} must be a positive integer, got {value}."
                )
        if self.word_dropout < 0:
            raise ElmanError(f"--word-dropout must be zero or positive, got {self.word_dropout}.")

    @property
    def char_features(self) -> int:
        """Size of a word's character features: 2 * char_hidden, or 0 without them."""
        return 2 * self.char_hidden if self.chars else 0


@dataclass(frozen=True)
class TaggedBatch:
    """Right-padded sentences, their tags and the characters of their distinct words."""

    ids: np.ndarray  # (B, T) word ids, 0 past each length
    lengths: np.ndarray  # (B,) words in each sentence
    tags: np.ndarray  # (B, T) tag ids, 0 past each length
    forms: np.ndarray  # (B, T) row of each word in ``chars``
    chars: np.ndarray  # (U, C) character ids of each distinct word of the batch
    char_lengths: np.ndarray  # (U,)
    index: np.ndarray  # (B,) position of each sentence in its dataset

    @property
    def mask(self) -> np.ndarray:
        return mask_of(self.lengths, self.ids.shape[1])


@dataclass
class TaggedData:
    """Encoded sentences."""

    words: list[np.ndarray]  # word ids of each sentence (<unk> for words not in the vocabulary)
    tags: list[np.ndarray]  # tag ids of each sentence (empty arrays when unknown)
    forms: list[np.ndarray]  # of each word, its row in ``chars``
    chars: list[np.ndarray]  # character ids of each distinct word form


class Tagger:
    """Word embedding (+ character features) -> encoder -> dropout -> affine at each word
    -> masked softmax cross-entropy (module doc). Parameters are named ``"embed.W"``,
    ``"char_embed.W"``, ``"char_rnn.0.forward.W_x"`` ..., ``"rnn.0.forward.W_x"`` ...,
    ``"output.W"`` and ``"output.b"``, in one flat buffer as in ``LanguageModel``."""

    def __init__(
        self,
        config: ModelConfig,
        tagger_config: TaggerConfig,
        chars: int,
        tags: int,
        seed: int = 0,
        dtype: np.dtype | type = np.float32,
    ) -> None:
        if config.vocab_size < 1:
            raise ValueError("ModelConfig.vocab_size must be set from the vocabulary")
        if tags < 1:
            raise ElmanError("a tagger needs at least one tag; give tagged sentences.")
        self.config, self.tagger_config, self.tags = config, tagger_config, tags
        self.outputs = tags  # what the training loop reads
        rng = np.random.default_rng(seed)
        dropout_rng = np.random.default_rng([seed, 1])
        V, D, K = config.vocab_size, config.embed, tags
        self.embedding = Embedding(nninit.uniform(rng, (V, D), EMBED_SCALE))
        self.char_embedding = self.char_encoder = self.char_pooling = None
        if tagger_config.chars:
            char_config = ModelConfig(
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
        self.flat_params, self.flat_grads, self.params, self.grads = pack_parameters(
            self.layers(), np.dtype(dtype)
        )
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

    @property
    def dtype(self) -> np.dtype:
        return self.flat_params.dtype

    @property
    def training(self) -> bool:
        """True while training: dropout is applied."""
        return self.dropout.training

    @training.setter
    def training(self, mode: bool) -> None:
        self.dropout.training = mode
        self.encoder.set_training(mode)
        if self.char_encoder is not None:
            self.char_encoder.set_training(mode)

    def zero_grad(self) -> None:
        self.flat_grads.fill(0)

    def logits(self, batch: TaggedBatch) -> np.ndarray:
        """Tag logits (B, T, K) of every word of the batch (padding included)."""
        x = self.embedding.forward(batch.ids)  # (B, T, D)
        if self.char_encoder is not None:
            cs = self.char_embedding.forward(batch.chars)  # (U, C, Dc)
            cs = self.char_encoder.forward(cs, batch.char_lengths)  # (U, C, 2Hc)
            features = self.char_pooling.forward(cs, batch.char_lengths)  # (U, 2Hc)
            self._forms = (batch.forms, features.shape)
            x = np.concatenate([x, features[batch.forms]], axis=-1)  # (B, T, D + 2Hc)
        hs = self.encoder.forward(x, batch.lengths)
        return self.output.forward(self.dropout.forward(hs))

    def forward(self, batch: TaggedBatch) -> float:
        """Mean cross-entropy per real word of the batch's tags."""
        loss = self.loss_layer.forward(self.logits(batch), batch.tags, batch.mask)
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


# Vocabularies and data ----------------------------------------------------------------


def vocabulary_form(word: str, lowercase: bool = False) -> str:
    """The form a word is looked up under: whitespace inside it (a few treebanks have
    words such as "10 000") becomes "_", since vocabulary words have none."""
    word = "_".join(word.split())
    return word.lower() if lowercase else word


def build_vocabularies(
    sentences: Sequence[Sentence], config: TaggerConfig, max_vocab: int = 0, min_count: int = 1
) -> tuple[WordTokenizer, CharTokenizer, list[str]]:
    """The word vocabulary (<unk>, <eos>, then words by frequency, as
    ``WordTokenizer.fit``), the characters and the sorted tag set of training sentences."""
    counts = Counter(vocabulary_form(word, config.lowercase) for s in sentences for word in s.words)
    for special in (UNK, EOS):
        counts.pop(special, None)
    ranked = [word for word, n in counts.most_common() if n >= min_count]
    if max_vocab:
        ranked = ranked[: max(max_vocab - 2, 0)]
    words = WordTokenizer([UNK, EOS, *ranked])
    chars = CharTokenizer.fit("".join(word for s in sentences for word in s.words))
    tags = sorted({tag for s in sentences for tag in s.tags})
    return words, chars, tags


def word_ends(ids: np.ndarray) -> np.ndarray:
    """A word's characters, or its first and last ``WORD_ENDS`` when it is longer."""
    if len(ids) <= 2 * WORD_ENDS:
        return ids
    return np.concatenate([ids[:WORD_ENDS], ids[-WORD_ENDS:]])


def encode(
    sentences: Sequence[Sentence],
    words: WordTokenizer,
    chars: CharTokenizer,
    tags: Sequence[str],
    config: TaggerConfig,
    name: str = "the data",
) -> TaggedData:
    """Word ids (of each word's ``vocabulary_form``), tag ids and character ids of
    sentences; a tag outside ``tags`` is refused, naming the file and the sentence's
    line. Sentences without tags (for prediction) get empty tag arrays."""
    tag_ids = {tag: k for k, tag in enumerate(tags)}
    form_rows: dict[str, int] = {}
    char_ids: list[np.ndarray] = []
    out = TaggedData([], [], [], char_ids)
    for s in sentences:
        out.words.append(
            np.array([words.id_of(vocabulary_form(w, config.lowercase)) for w in s.words], np.int64)
        )
        rows = []
        for word in s.words:
            if word not in form_rows:
                form_rows[word] = len(char_ids)
                char_ids.append(word_ends(chars.encode(word)))
            rows.append(form_rows[word])
        out.forms.append(np.array(rows, np.int64))
        unknown = [tag for tag in s.tags if tag not in tag_ids]
        if unknown:
            raise ElmanError(
                f"{name} line {s.line}: tag {unknown[0]!r} is not one the model was trained "
                f"on ({', '.join(tags)}); fix the tag or retrain."
            )
        out.tags.append(np.array([tag_ids[tag] for tag in s.tags], np.int64))
    return out


def word_counts(data: TaggedData, vocabulary_size: int) -> np.ndarray:
    """How often each word id occurs in ``data`` (V,)."""
    return np.bincount(np.concatenate(data.words), minlength=vocabulary_size)


def make_batches(
    data: TaggedData,
    batch: int,
    rng: np.random.Generator | None = None,
    word_dropout: float = 0.0,
    counts: np.ndarray | None = None,
) -> list[TaggedBatch]:
    """Sentences in batches of similar length (shuffled with ``rng``). With ``rng`` and
    ``word_dropout`` alpha > 0, a word seen ``counts[id]`` times in training becomes
    <unk> with probability alpha / (alpha + count)."""
    out = []
    for index in bucket([len(w) for w in data.words], batch, rng):
        ids, lengths = pad([data.words[i] for i in index])
        tags, _ = pad([data.tags[i] for i in index])
        forms, _ = pad([data.forms[i] for i in index])
        if rng is not None and word_dropout > 0:
            keep = rng.random(ids.shape) >= word_dropout / (word_dropout + counts[ids])
            ids = np.where(keep, ids, 0)
        # Each distinct word of the batch is read once by the character layer.
        unique, inverse = np.unique(forms[mask_of(lengths, ids.shape[1])], return_inverse=True)
        rows = np.zeros_like(forms)
        rows[mask_of(lengths, ids.shape[1])] = inverse.ravel()
        char_ids, char_lengths = pad([data.chars[u] for u in unique])
        if tags.shape != ids.shape:  # untagged sentences, for prediction
            tags = np.zeros_like(ids)
        out.append(TaggedBatch(ids, lengths, tags, rows, char_ids, char_lengths, index))
    return out


def predict_ids(model: Tagger, data: TaggedData, batch: int) -> list[np.ndarray]:
    """The most likely tag id of every word of every sentence, in input order."""
    training, model.training = model.training, False
    predicted: list[np.ndarray] = [np.zeros(0, np.int64)] * len(data.words)
    for b in make_batches(data, batch):
        best = model.logits(b).argmax(axis=-1)  # (B, T)
        for row, i in enumerate(b.index):
            predicted[i] = best[row, : b.lengths[row]]
    model.training = training
    return predicted


@dataclass(frozen=True)
class TaggerEvaluation:
    loss: float  # mean cross-entropy per word
    scores: Scores  # over all words: accuracy, per-tag precision/recall/F1
    oov_accuracy: float  # accuracy on the words the vocabulary lacks (nan if there are none)
    oov_words: int  # how many words those are

    def as_dict(self, names: Sequence[str]) -> dict[str, Any]:
        return {
            **self.scores.as_dict(names),
            "loss": self.loss,
            # JSON has no NaN: null when there were no out-of-vocabulary words
            "oov_accuracy": None if self.oov_words == 0 else self.oov_accuracy,
            "oov_words": self.oov_words,
        }


def evaluate(model: Tagger, data: TaggedData, batch: int) -> TaggerEvaluation:
    """Token accuracy, accuracy on out-of-vocabulary words and per-tag scores; padding
    is never scored. A word is out of vocabulary when it maps to <unk>."""
    training, model.training = model.training, False
    total, count = 0.0, 0
    gold, predicted, oov = [], [], []
    for b in make_batches(data, batch):
        logits = model.logits(b)
        mask = b.mask
        predicted.append(logits.argmax(axis=-1)[mask])
        total += model.loss_layer.forward(logits, b.tags, mask) * mask.sum()
        count += int(mask.sum())
        gold.append(b.tags[mask])
        oov.append(b.ids[mask] == 0)
    model.training = training
    gold_ids, predicted_ids, oov_mask = (np.concatenate(a) for a in (gold, predicted, oov))
    correct = gold_ids == predicted_ids
    return TaggerEvaluation(
        loss=total / max(count, 1),
        scores=scores(confusion_matrix(gold_ids, predicted_ids, model.tags)),
        oov_accuracy=float(correct[oov_mask].mean()) if oov_mask.any() else float("nan"),
        oov_words=int(oov_mask.sum()),
    )


def train(
    model: Tagger,
    train_data: TaggedData,
    valid_data: TaggedData | None,
    config: TrainConfig,
    save: Callable[[dict[str, Any]], None] | None = None,
    metrics: Path | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Train ``model``; the best weights by validation accuracy are kept (and passed to
    ``save(info)``). Returns one record per epoch."""
    counts = word_counts(train_data, model.config.vocab_size)
    alpha = model.tagger_config.word_dropout

    def validate() -> dict[str, float]:
        result = evaluate(model, valid_data, config.eval_batch)
        record = {"loss": result.loss, "accuracy": result.scores.accuracy}
        if result.oov_words:
            record["oov_accuracy"] = result.oov_accuracy
        return record

    return fit(
        model,
        lambda rng: make_batches(train_data, config.batch, rng, alpha, counts),
        config,
        validate=validate if valid_data is not None else None,
        criterion="accuracy",
        save=save,
        metrics=metrics,
        progress=progress,
    )


# Checkpoints ---------------------------------------------------------------------------


@dataclass
class TaggerCheckpoint:
    """A trained tagger with its vocabularies and tag set."""

    model: Tagger
    words: WordTokenizer
    chars: CharTokenizer
    tags: list[str]
    train_config: TrainConfig = field(default_factory=TrainConfig)
    info: dict[str, Any] = field(default_factory=dict)  # the epoch record it was saved at

    @property
    def tagger_config(self) -> TaggerConfig:
        return self.model.tagger_config


def save(directory: str | os.PathLike, ckpt: TaggerCheckpoint) -> None:
    """Write a tagger checkpoint: config.json (kind "tagger", with the tags and the
    characters), vocab.json (the words) and model.safetensors."""
    sections = {
        "model": dataclasses.asdict(ckpt.model.config),
        "tagger": dataclasses.asdict(ckpt.tagger_config),
        "train": dataclasses.asdict(ckpt.train_config),
        "tokenizer": {"level": ckpt.words.level},
        "data": {"tags": list(ckpt.tags), "chars": list(ckpt.chars.tokens)},
        "info": ckpt.info,
    }
    write_checkpoint(directory, TAGGER, sections, ckpt.model.params, ckpt.words)


def load(directory: str | os.PathLike, dtype: np.dtype | type = np.float32) -> TaggerCheckpoint:
    """Read and validate the tagger checkpoint in ``directory``."""
    directory = Path(directory)
    config, words, tensors = read_checkpoint(
        directory, TAGGER, ("model", "tagger", "train", "tokenizer", "data", "info")
    )
    where = str(directory / CONFIG_FILE)
    model_config = from_dict(ModelConfig, config.get("model", {}), where=where)
    tagger_config = from_dict(TaggerConfig, config.get("tagger", {}), where=where)
    train_config = from_dict(TrainConfig, config.get("train", {}), where=where)
    data = config.get("data", {})
    tags = data.get("tags")
    if (
        not isinstance(tags, list)
        or not tags
        or not all(isinstance(tag, str) and tag for tag in tags)
        or len(set(tags)) != len(tags)
    ):
        raise ElmanError(
            f"{where}: data.tags is {tags!r}, expected a list of distinct tags; the checkpoint "
            "is damaged, retrain or restore it."
        )
    chars = tokenizer_from_json({"level": "char", "tokens": data.get("chars")}, f"{where} chars")
    if not isinstance(words, WordTokenizer) or len(words) != model_config.vocab_size:
        raise ElmanError(
            f"{directory} has a vocabulary that does not belong to this model (expected "
            f"{model_config.vocab_size} words); retrain or restore the checkpoint."
        )
    model = Tagger(model_config, tagger_config, len(chars), len(tags), dtype=dtype)
    copy_tensors(model.params, tensors, directory / WEIGHTS_FILE)
    return TaggerCheckpoint(model, words, chars, tags, train_config, config.get("info", {}))
