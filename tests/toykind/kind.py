"""A toy kind of model for tests: one number per text, from the mean of its characters'
embeddings (y = mean_t E[w_t] W + b, loss = mean (y - target)^2), with everything a kind
gives ``elman.runs``: its data (value<TAB>text lines), model, task, checkpoint and an
evaluation for ``elman regress eval``."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from elman import checkpoint as files
from elman import runs, training
from elman.config import ModelConfig, TokenizerConfig, TrainConfig, from_dict
from elman.data.padded import mask_of, pad
from elman.data.text import read_text
from elman.data.tokenizers import Tokenizer
from elman.errors import ElmanError
from elman.nn import Affine, Embedding
from elman.nn import init as nninit
from elman.nn.network import Network
from tests.toykind import REGISTRATION

NAME = REGISTRATION.name


@dataclass
class Texts:
    """Encoded texts and their values."""

    ids: list[np.ndarray]
    values: np.ndarray


@dataclass
class Batch:
    ids: np.ndarray  # (B, T), right-padded
    mask: np.ndarray  # (B, T)
    values: np.ndarray  # (B,)


class Regressor(Network):
    """Embedding -> mean over each text's characters -> affine to one number."""

    def __init__(self, config: ModelConfig, seed: int = 0, dtype: Any = np.float32) -> None:
        rng = np.random.default_rng(seed)
        self.config, self.dropouts, self.dropout_rng = config, [], np.random.default_rng([seed, 1])
        self.embedding = Embedding(nninit.uniform(rng, (config.vocab_size, config.embed), 0.1))
        self.output = Affine(nninit.uniform(rng, (config.embed, 1), 0.1), np.zeros(1))
        self.pack([("embed", self.embedding), ("output", self.output)], dtype)

    def predict(self, batch: Batch) -> np.ndarray:
        """(B,) numbers, nothing kept for backward."""
        xs = self.embedding.params["W"][batch.ids]  # (B, T, D)
        counts = batch.mask.sum(axis=1, keepdims=True)  # (B, 1)
        mean = (xs * batch.mask[..., None]).sum(axis=1) / counts  # (B, D)
        return (mean @ self.output.params["W"] + self.output.params["b"])[:, 0]

    def forward(self, batch: Batch) -> float:
        xs = self.embedding.forward(batch.ids)
        counts = batch.mask.sum(axis=1, keepdims=True)
        mean = (xs * batch.mask[..., None]).sum(axis=1) / counts
        y = self.output.forward(mean)[:, 0]
        self.cache = (batch, counts, y - batch.values)
        self.loss_sum = float(np.sum((y - batch.values) ** 2))
        self.loss_count = len(batch.values)
        return self.loss_sum / self.loss_count

    def backward(self) -> None:
        batch, counts, error = self.cache
        dy = (2 * error / len(error))[:, None]  # (B, 1)
        dmean = self.output.backward(dy.astype(self.dtype))  # (B, D)
        dxs = (dmean / counts)[:, None, :] * batch.mask[..., None]  # (B, T, D)
        self.embedding.backward(dxs.astype(self.dtype))


def batches(data: Texts, size: int, rng: np.random.Generator | None = None) -> list[Batch]:
    order = np.arange(len(data.values)) if rng is None else rng.permutation(len(data.values))
    found = []
    for start in range(0, len(order), size):
        rows = order[start : start + size]
        ids, lengths = pad([data.ids[i] for i in rows])
        found.append(Batch(ids, mask_of(lengths, ids.shape[1]), data.values[rows]))
    return found


class RegressorTask(training.WholeSequenceTask):
    command = "regress train"
    unit = "texts"
    headline = "neg_loss"

    def __init__(self, ckpt: Any, train: Texts, valid: Texts | None) -> None:
        super().__init__(ckpt, train, valid)
        self.uniform_loss = math.log(2)  # a loss far above this many times it diverged

    def epoch_batches(self, rng: np.random.Generator) -> Sequence[Batch]:
        return batches(self.train_data, self.ckpt.train_config.batch, rng)

    def work(self, batch: Batch) -> float:
        return batch.ids.size

    def validate(self) -> dict[str, float] | None:
        if self.valid_data is None:
            return None
        loss = evaluate(self.model, self.valid_data)["loss"]
        return {"loss": loss, "neg_loss": -loss}

    def lengths(self, data: Texts) -> np.ndarray:
        return np.array([len(ids) for ids in data.ids])

    def rows(self, data: Texts, rows: np.ndarray) -> Texts:
        return Texts([data.ids[i] for i in rows], data.values[rows])

    def save_checkpoint(self, out: Path) -> None:
        save(out, self.ckpt)


def evaluate(model: Regressor, data: Texts) -> dict[str, float]:
    predicted = np.concatenate([model.predict(b) for b in batches(data, 64)])
    return {"loss": float(np.mean((predicted - data.values) ** 2)), "texts": len(predicted)}


@dataclass
class RegressorCheckpoint:
    model: Regressor
    tokenizer: Tokenizer
    train_config: TrainConfig = field(default_factory=TrainConfig)
    tokenizer_config: TokenizerConfig = field(default_factory=TokenizerConfig)
    data: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    kind = NAME

    @property
    def settings(self) -> dict[str, Any]:
        return {"model": self.model.config, "tokenizer": self.tokenizer_config,
                "train": self.train_config}  # fmt: skip


def save(directory: Any, ckpt: RegressorCheckpoint) -> None:
    sections = {**files.sections_of(ckpt.settings), "data": ckpt.data, "info": ckpt.info}
    files.write_checkpoint(directory, NAME, sections, ckpt.model.params, {"tokens": ckpt.tokenizer})


def load(directory: Any, dtype: Any = np.float32) -> RegressorCheckpoint:
    directory = Path(directory)
    sections = ("model", "tokenizer", "train", "data", "info")
    config, vocabularies, tensors, _ = files.read_checkpoint(directory, NAME, sections, ("tokens",))
    where = str(directory / files.CONFIG_FILE)
    model_config = from_dict(ModelConfig, config["model"], where)
    tokenizer_config = from_dict(TokenizerConfig, config["tokenizer"], where)
    tokenizer = files.vocabulary(directory, config, vocabularies, "tokens", model_config.vocab_size)
    model = Regressor(model_config, dtype=dtype)
    files.copy_tensors(model.params, tensors, directory / files.WEIGHTS_FILE)
    train_config = from_dict(TrainConfig, config["train"], where)
    return RegressorCheckpoint(model, tokenizer, train_config, tokenizer_config,
                               config["data"], config["info"])  # fmt: skip


def read_values(path: Any) -> tuple[list[str], np.ndarray]:
    texts, values = [], []
    for n, line in enumerate(read_text(path).splitlines(), 1):
        value, tab, text = line.partition("\t")
        try:
            values.append(float(value))
        except ValueError:
            raise ElmanError(f"{path} line {n} does not start with a number and a tab.") from None
        texts.append(text)
    return texts, np.array(values, np.float32)


@dataclass
class RegressorData:
    parts: dict[str, tuple[list[str], np.ndarray] | None]
    record: dict[str, Any]


class RegressorKind(runs.KindBase):
    name = NAME
    command = "regress train"
    checkpoint = None  # saves and loads below
    roles = {"data": "value<TAB>text lines to train on", "valid": "validation lines"}
    sections = {"model": ModelConfig, "tokenizer": TokenizerConfig, "train": TrainConfig}
    defaults = {"embed": 8, "epochs": 3}

    def read(self, inputs: runs.Inputs, settings: runs.Settings, resuming: bool = False):
        if inputs.get("data") is None:
            raise ElmanError("give --data, the value<TAB>text lines to train on.")
        parts, record = {}, {"inputs": {}}
        for role in ("data", "valid"):
            if inputs.get(role) is None:
                parts[role] = None
                continue
            parts[role] = read_values(inputs[role])
            digest = runs.text_digest(read_text(inputs[role]))
            record["inputs"][role] = runs.input_record(inputs[role], digest)
        return RegressorData(parts, record)

    def build(self, data: RegressorData, settings: runs.Settings) -> RegressorCheckpoint:
        tokenizer = settings["tokenizer"].fit("\n".join(data.parts["data"][0]))
        config = dataclasses.replace(settings["model"], vocab_size=len(tokenizer))
        model = Regressor(config, seed=settings["train"].seed)
        return RegressorCheckpoint(model, tokenizer, settings["train"], settings["tokenizer"])

    def describe(self, ckpt: RegressorCheckpoint, data: RegressorData) -> list[str]:
        return [
            f"{len(data.parts['data'][1])} texts; model: {ckpt.model.flat_params.size} parameters"
        ]

    def task(self, ckpt: RegressorCheckpoint, data: RegressorData) -> RegressorTask:
        encoded = {
            role: None if part is None else encode(ckpt, part) for role, part in data.parts.items()
        }
        return RegressorTask(ckpt, encoded["data"], encoded["valid"])

    def finish(self, ckpt: Any, data: Any, say: Callable[[str], None]) -> dict | None:
        return None

    def headline(self, test: dict | None, history: list[dict[str, Any]]) -> str:
        return "no test part"

    def evaluate(self, ckpt: RegressorCheckpoint, path: Any) -> dict[str, Any]:
        """``elman regress eval --data PATH``: the mean squared error of its lines."""
        return evaluate(ckpt.model, encode(ckpt, read_values(path)))

    def save(self, directory: Path, ckpt: RegressorCheckpoint) -> None:
        save(directory, ckpt)

    def load(self, directory: Any, dtype: Any = np.float32) -> RegressorCheckpoint:
        return load(directory, dtype)


def encode(ckpt: RegressorCheckpoint, part: tuple[list[str], np.ndarray]) -> Texts:
    texts, values = part
    return Texts([ckpt.tokenizer.encode(text) for text in texts], values)


KIND = RegressorKind()  # the kind itself, which elman.registry.kind looks up
