"""elman.supervised.fit, the classifier's and tagger's loop, on a stand-in model."""

import json

import numpy as np

from elman.config import TrainConfig
from elman.supervised import fit


class Quadratic:
    """loss = |p|² / 2 for parameters p: the smallest model the loop can train."""

    def __init__(self) -> None:
        self.flat_params = np.ones(3)
        self.flat_grads = np.zeros(3)
        self.loss_sum = self.loss_count = 0.0
        self.training = True
        self.outputs = 2  # the loop compares the loss with log(outputs)

    def zero_grad(self) -> None:
        self.flat_grads.fill(0)

    def forward(self, batch) -> float:
        self.loss_sum, self.loss_count = 0.5 * float(self.flat_params @ self.flat_params), 1.0
        return self.loss_sum

    def backward(self) -> None:
        self.flat_grads += self.flat_params


def test_a_tie_on_the_criterion_is_broken_by_the_loss_and_logged_as_json(tmp_path):
    """Validators may return numpy scalars; with the same accuracy every epoch, the lower
    loss decides, and the records must still be plain JSON (this crashed the tagger)."""
    model = Quadratic()

    def validate() -> dict:
        loss = np.float64(model.flat_params @ model.flat_params)
        return {"accuracy": np.float64(0.5), "loss": loss}

    config = TrainConfig(epochs=3, optimizer="sgd", lr=0.1, clip=0, lr_decay=1)
    history = fit(
        model,
        lambda rng: [None, None],
        config,
        validate=validate,
        save=lambda record: None,
        metrics=tmp_path / "metrics.jsonl",
        progress=False,
    )
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").open()]
    epochs = [r for r in records if r["event"] == "epoch"]
    assert [r["saved"] for r in epochs] == [True, True, True]  # the loss falls every epoch
    assert all(type(r["saved"]) is bool and type(r["valid_loss"]) is float for r in history)
