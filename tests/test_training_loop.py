"""elman.training.Trainer, the one loop, on a stand-in task."""

import json

import numpy as np

from elman.config import TrainConfig
from elman.nn.parameters import NumpyArrays
from elman.training import Trainer


class Quadratic:
    """loss = |p|² / 2 for parameters p: the smallest model the loop can train."""

    def __init__(self) -> None:
        self.flat_params = np.ones(3)
        self.flat_grads = np.zeros(3)
        self.arrays = NumpyArrays(np.float64)
        self.training = True
        self.dropout_rng = np.random.default_rng(0)

    def zero_grad(self) -> None:
        self.flat_grads.fill(0)

    def backward(self) -> None:
        self.flat_grads += self.flat_params


class QuadraticTask:
    """Two batches an epoch; validation returns numpy scalars, as validators may."""

    command = "train"
    unit = "items"
    uniform_loss = float(np.log(2))

    def __init__(self) -> None:
        self.model = Quadratic()
        self.saved = 0

    def epoch_batches(self, rng):
        return [None, None]

    def forward(self, batch):
        loss = 0.5 * float(self.model.flat_params @ self.model.flat_params)
        return loss, loss, 1.0

    def validate(self):
        loss = np.float64(self.model.flat_params @ self.model.flat_params)
        return {"accuracy": np.float64(0.5), "loss": loss}

    def score(self, figures):
        return (figures["accuracy"], -figures["loss"])

    def train_figures(self, mean_loss):
        return {}

    def describe(self, record):
        return f"train loss {record['train_loss']:.4f}"

    def save(self, out, info):
        self.saved += 1

    def carried_state(self):
        return []

    def restore_carried_state(self, state):
        pass


def test_a_tie_on_the_criterion_is_broken_by_the_loss_and_logged_as_json(tmp_path):
    """Validators may return numpy scalars; with the same accuracy every epoch, the lower
    loss decides, and the records must still be plain JSON (this crashed the tagger)."""
    task = QuadraticTask()
    config = TrainConfig(epochs=3, optimizer="sgd", lr=0.1, clip=0, lr_decay=1)
    history = Trainer(task, config, tmp_path, progress=False).run()
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").open()]
    epochs = [r for r in records if r["event"] == "epoch"]
    assert [r["saved"] for r in epochs] == [True, True, True]  # the loss falls every epoch
    assert task.saved == 3
    assert all(type(r["saved"]) is bool and type(r["valid_loss"]) is float for r in history)
    assert [r["epoch"] for r in history] == [1, 2, 3]
