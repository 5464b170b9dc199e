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

import dataclasses
import os
import re
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
from elman.data.labeled import Example
from elman.data.padded import bucket, pad
from elman.data.tokenizers import CharTokenizer, WordTokenizer
from elman.encoder import Encoder
from elman.errors import ElmanError
from elman.metrics import Scores, confusion_matrix, scores
from elman.model import EMBED_SCALE, LanguageModel
from elman.nn import Affine, Dropout, Embedding, Pooling, SoftmaxCrossEntropy
from elman.nn import init as nninit
from elman.nn.parameters import pack_parameters
from elman.nn.pooling import POOLINGS
from elman.supervised import fit

CLASSIFIER = "classifier"  # the checkpoint kind
CLASS_WEIGHTS = ("none", "balanced")


@dataclass
class ClassifierConfig:
    """What a classifier adds to the encoder's shape (``ModelConfig``) and the training
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
    valid_fraction: float = field(
        default=0.1,
        metadata=field_help("part of --data held out for validation when no --valid is given"),
    )
    test_fraction: float = field(
        default=0.2,
        metadata=field_help("part of --data held out for testing when no --test is given"),
    )
    split_seed: int = field(
        default=0,
        metadata=field_help("seed of the stratified split of --data (recorded in the checkpoint)"),
    )

    def __post_init__(self) -> None:
        require_finite_fields(self)
        require_choice("pooling", self.pooling, POOLINGS)
        require_choice("class_weights", self.class_weights, CLASS_WEIGHTS)
        if self.max_length < 0:
            raise ElmanError(f"--max-length must be zero or positive, got {self.max_length}.")
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


@dataclass(frozen=True)
class LabeledBatch:
    """Right-padded texts and their labels."""

    ids: np.ndarray  # (B, T) token ids, 0 past each length
    lengths: np.ndarray  # (B,) real tokens of each text
    labels: np.ndarray  # (B,) class ids
    index: np.ndarray  # (B,) position of each text in its dataset
    weights: np.ndarray | None = None  # (B,) loss weight of each text


@dataclass
class LabeledData:
    """Encoded texts and their class ids."""

    sequences: list[np.ndarray]  # token ids of each text
    labels: np.ndarray  # (N,) class ids


class Classifier:
    """Embedding -> encoder -> pooling -> dropout -> affine -> softmax cross-entropy
    (module doc). Parameters are named ``"embed.W"``, ``"rnn.0.W_x"`` (or
    ``"rnn.0.forward.W_x"`` when bidirectional), ``"output.W"`` and ``"output.b"``, and
    live in one flat buffer as in ``LanguageModel``.

    Initialisation as the language model's: embedding and output U(-0.1, 0.1),
    recurrent layers by ``nn.init.recurrent_layer``.
    """

    def __init__(
        self,
        config: ModelConfig,
        classes: int,
        pooling: str = "final",
        seed: int = 0,
        dtype: np.dtype | type = np.float32,
    ) -> None:
        if config.vocab_size < 1:
            raise ValueError("ModelConfig.vocab_size must be set from the vocabulary")
        if classes < 2:
            raise ElmanError(
                f"a classifier needs at least two labels, got {classes}; give texts of "
                "several classes."
            )
        self.config = config
        self.classes = self.outputs = classes  # outputs: what the training loop reads
        rng = np.random.default_rng(seed)
        dropout_rng = np.random.default_rng([seed, 1])
        V, D, K = config.vocab_size, config.embed, classes
        self.embedding = Embedding(nninit.uniform(rng, (V, D), EMBED_SCALE))
        self.encoder = Encoder(config, D, rng, dropout_rng)
        self.pooling = Pooling(pooling, split=config.hidden if config.bidirectional else None)
        # On the pooled (B, H) vector: one per text, so "locked" across time means nothing.
        self.dropout = Dropout(config.dropout, "standard", dropout_rng)
        self.output = Affine(nninit.uniform(rng, (config.output_size, K), EMBED_SCALE), np.zeros(K))
        self.loss_layer = SoftmaxCrossEntropy()
        self.flat_params, self.flat_grads, self.params, self.grads = pack_parameters(
            self.layers(), np.dtype(dtype)
        )
        self.loss_sum, self.loss_count, self._scale = 0.0, 0.0, 1.0

    def layers(self) -> list[tuple[str, Any]]:
        """The layers with parameters, named as in ``params``."""
        return [("embed", self.embedding), *self.encoder.layers("rnn"), ("output", self.output)]

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

    def zero_grad(self) -> None:
        self.flat_grads.fill(0)

    def logits(self, ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Token ids (B, T) right-padded to lengths (B,) -> class logits (B, K)."""
        hs = self.encoder.forward(self.embedding.forward(ids), lengths)
        return self.output.forward(self.dropout.forward(self.pooling.forward(hs, lengths)))

    def forward(self, batch: LabeledBatch) -> float:
        """Mean cross-entropy of the batch's labels, weighted by ``batch.weights`` if given
        (sum_i w_i loss_i / sum_i w_i, as PyTorch's ``cross_entropy(weight=...)``)."""
        logits = self.logits(batch.ids, batch.lengths)
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


def init_from_language_model(model: Classifier, lm: LanguageModel) -> list[str]:
    """Copy a trained language model's embedding and recurrent weights into ``model``
    (pre-training, then fine-tuning; Dai & Le 2015): ``embed.W`` and each layer's
    weights, into the forward direction when the classifier is bidirectional. The
    output layer, the reverse directions and the input weights of a bidirectional
    encoder's upper layers (which read both directions, 2H wide) keep their
    initialisation. Returns the names copied."""
    ours, theirs = model.config, lm.config
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
    for name, value in lm.params.items():
        layer, _, key = name.rpartition(".")
        if not (layer == "embed" or layer.startswith("rnn.")):
            continue
        target = f"{layer}.forward.{key}" if layer != "embed" and ours.bidirectional else name
        if target in model.params and model.params[target].shape == value.shape:
            model.params[target][...] = value
            copied.append(target)
    return copied


def normalize(text: str) -> str:
    """Lower case, every digit 0, runs of punctuation apart from words:

    >>> normalize("WIN £1000! Call 0800-123")
    'win £ 0000 ! call 0000 - 000'
    """
    text = _DIGIT.sub("0", text.lower())
    return " ".join(_WORD_OR_PUNCTUATION.findall(text))


_DIGIT = re.compile(r"\d")
_WORD_OR_PUNCTUATION = re.compile(r"\w+|[^\w\s]+")


def token_ids(
    text: str, tokenizer: CharTokenizer | WordTokenizer, config: ClassifierConfig
) -> np.ndarray:
    """The ids a classifier reads for ``text``: normalised if set, cut to ``max_length``."""
    ids = tokenizer.encode(normalize(text) if config.normalize else text)
    return ids[: config.max_length] if config.max_length else ids


def encode(
    examples: Sequence[Example],
    tokenizer: CharTokenizer | WordTokenizer,
    labels: Sequence[str],
    config: ClassifierConfig,
) -> LabeledData:
    """Token ids of each text (``token_ids``) and the index of its label in ``labels``;
    a label outside ``labels`` is refused, naming where it is."""
    label_ids = {label: k for k, label in enumerate(labels)}
    sequences, ids = [], []
    for example in examples:
        if example.label not in label_ids:
            raise ElmanError(
                f"{example.where} has label {example.label!r}, which the model does not know "
                f"(it was trained on {', '.join(labels)}); fix the label or retrain."
            )
        sequences.append(token_ids(example.text, tokenizer, config))
        ids.append(label_ids[example.label])
    return LabeledData(sequences, np.array(ids, dtype=np.int64))


def class_weights(labels: np.ndarray, classes: int) -> np.ndarray:
    """Balanced weights N / (K * N_k) (King & Zeng 2001; sklearn's "balanced"): each class
    then weighs as much in total, and the mean weight over the data is 1."""
    counts = np.bincount(labels, minlength=classes).astype(np.float64)
    return np.where(counts > 0, len(labels) / (classes * np.maximum(counts, 1)), 0.0)


def make_batches(
    data: LabeledData,
    batch: int,
    rng: np.random.Generator | None = None,
    weights: np.ndarray | None = None,
) -> list[LabeledBatch]:
    """The texts in batches of similar length (shuffled with ``rng``); ``weights`` (K,)
    gives each text its class's weight."""
    out = []
    for index in bucket([len(s) for s in data.sequences], batch, rng):
        ids, lengths = pad([data.sequences[i] for i in index])
        labels = data.labels[index]
        out.append(
            LabeledBatch(ids, lengths, labels, index, None if weights is None else weights[labels])
        )
    return out


def predict_proba(model: Classifier, sequences: Sequence[np.ndarray], batch: int) -> np.ndarray:
    """Class probabilities (N, K) of each sequence, in input order, without dropout."""
    training, model.training = model.training, False
    probs = np.empty((len(sequences), model.classes), np.float64)
    for index in bucket([len(s) for s in sequences], batch):
        ids, lengths = pad([sequences[i] for i in index])
        logits = model.logits(ids, lengths).astype(np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        np.exp(logits, out=logits)
        probs[index] = logits / logits.sum(axis=1, keepdims=True)
    model.training = training
    return probs


@dataclass(frozen=True)
class ClassifierEvaluation:
    loss: float  # mean cross-entropy, nats per text
    scores: Scores

    def as_dict(self, names: Sequence[str]) -> dict[str, Any]:
        return {**self.scores.as_dict(names), "loss": self.loss}


def evaluate(model: Classifier, data: LabeledData, batch: int) -> ClassifierEvaluation:
    """Loss, accuracy, per-class precision/recall/F1 and macro F1 on labelled data."""
    probs = predict_proba(model, data.sequences, batch)
    picked = probs[np.arange(len(data.labels)), data.labels]
    loss = float(-np.log(np.maximum(picked, 1e-300)).mean())
    confusion = confusion_matrix(data.labels, probs.argmax(axis=1), model.classes)
    return ClassifierEvaluation(loss, scores(confusion))


def train(
    model: Classifier,
    train_data: LabeledData,
    valid_data: LabeledData | None,
    config: TrainConfig,
    weighting: str = "none",
    save: Callable[[dict[str, Any]], None] | None = None,
    metrics: Path | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Train ``model``; the best weights by validation macro F1 are kept (and passed to
    ``save(info)``). Returns one record per epoch."""
    if len(train_data.labels) == 0:
        raise ElmanError("there are no training texts; give a larger --data file.")
    weights = class_weights(train_data.labels, model.classes) if weighting == "balanced" else None

    def validate() -> dict[str, float]:
        result = evaluate(model, valid_data, config.eval_batch)
        return {
            "loss": result.loss,
            "accuracy": result.scores.accuracy,
            "macro_f1": result.scores.macro_f1,
        }

    return fit(
        model,
        lambda rng: make_batches(train_data, config.batch, rng, weights),
        config,
        validate=validate if valid_data is not None and len(valid_data.labels) else None,
        criterion="macro_f1",
        save=save,
        metrics=metrics,
        progress=progress,
    )


# Checkpoints ---------------------------------------------------------------------------


@dataclass
class ClassifierCheckpoint:
    """A trained classifier with what it needs to be used and reproduced."""

    model: Classifier
    tokenizer: CharTokenizer | WordTokenizer
    labels: list[str]
    classifier_config: ClassifierConfig = field(default_factory=ClassifierConfig)
    train_config: TrainConfig = field(default_factory=TrainConfig)
    data: dict[str, Any] = field(default_factory=dict)  # labels, the split of --data
    info: dict[str, Any] = field(default_factory=dict)  # the epoch record it was saved at


def save(directory: str | os.PathLike, ckpt: ClassifierCheckpoint) -> None:
    """Write a classifier checkpoint: config.json (kind "classifier"), vocab.json and
    model.safetensors, as the language model's."""
    sections = {
        "model": dataclasses.asdict(ckpt.model.config),
        "classifier": dataclasses.asdict(ckpt.classifier_config),
        "train": dataclasses.asdict(ckpt.train_config),
        "tokenizer": {"level": ckpt.tokenizer.level},
        "data": {**ckpt.data, "labels": list(ckpt.labels)},
        "info": ckpt.info,
    }
    write_checkpoint(directory, CLASSIFIER, sections, ckpt.model.params, ckpt.tokenizer)


def load(directory: str | os.PathLike, dtype: np.dtype | type = np.float32) -> ClassifierCheckpoint:
    """Read and validate the classifier checkpoint in ``directory``."""
    directory = Path(directory)
    config, tokenizer, tensors = read_checkpoint(
        directory, CLASSIFIER, ("model", "classifier", "train", "tokenizer", "data", "info")
    )
    where = str(directory / CONFIG_FILE)
    model_config = from_dict(ModelConfig, config.get("model", {}), where=where)
    classifier_config = from_dict(ClassifierConfig, config.get("classifier", {}), where=where)
    train_config = from_dict(TrainConfig, config.get("train", {}), where=where)
    data = config.get("data", {})
    labels = data.get("labels")
    if (
        not isinstance(labels, list)
        or len(labels) < 2
        or not all(isinstance(label, str) and label for label in labels)
        or len(set(labels)) != len(labels)
    ):
        raise ElmanError(
            f"{where}: data.labels is {labels!r}, expected a list of two or more distinct "
            "labels; the checkpoint is damaged, retrain or restore it."
        )
    if tokenizer.level != config.get("tokenizer", {}).get("level"):
        raise ElmanError(
            f"{directory} holds a {tokenizer.level}-level vocabulary but {CONFIG_FILE} says "
            f"otherwise; the checkpoint was edited or mixed up, retrain it."
        )
    if len(tokenizer) != model_config.vocab_size:
        raise ElmanError(
            f"{directory} has a vocabulary of {len(tokenizer)} tokens but the model expects "
            f"{model_config.vocab_size}; the vocabulary does not belong to this model."
        )
    model = Classifier(model_config, len(labels), classifier_config.pooling, dtype=dtype)
    copy_tensors(model.params, tensors, directory / WEIGHTS_FILE)
    return ClassifierCheckpoint(
        model, tokenizer, labels, classifier_config, train_config, data, config.get("info", {})
    )
