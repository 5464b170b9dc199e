"""elman.training.Trainer, the one loop, on a stand-in task."""

import json

import numpy as np
import pytest

from elman import training
from elman.config import TrainConfig
from elman.errors import ElmanError
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
        self.recurrent = []  # no recurrent layer: no products to give elman.gemm

    def use_gemm(self, gemm) -> None:
        pass

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

    def work(self, batch):
        return 3.0

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


class RecordedThreads:
    """Stands in for ``elman.blas.BlasThreads``: writes down in ``calls`` what the loop
    asks of it."""

    def __init__(self, calls: list) -> None:
        self.calls = calls

    def __enter__(self) -> "RecordedThreads":
        return self

    def __exit__(self, *exc: object) -> None:
        self.restore()

    def start(self) -> None:
        self.calls.append("start")

    def stop(self, size: float = 1.0) -> None:
        self.calls.append(("stop", size))

    def restore(self) -> None:
        self.calls.append("restore")


class ObservedTask(QuadraticTask):
    """QuadraticTask noting each validation in ``calls``, and a NaN loss at step ``nan_at``."""

    def __init__(self, calls: list, nan_at: int = 0) -> None:
        super().__init__()
        self.calls, self.nan_at, self.steps = calls, nan_at, 0

    def forward(self, batch):
        self.steps += 1
        loss = super().forward(batch)
        return (float("nan"), 0.0, 1.0) if self.steps == self.nan_at else loss

    def validate(self):
        self.calls.append("validate")
        return super().validate()


@pytest.fixture
def blas_calls(monkeypatch) -> list:
    """What the loop asks of its BLAS threads, from the moment they are made."""
    calls: list = []

    def for_arrays(arrays: NumpyArrays, threads: int) -> RecordedThreads:
        calls.append(("made", arrays.backend, threads))
        return RecordedThreads(calls)

    monkeypatch.setattr(training.BlasThreads, "for_arrays", for_arrays)
    return calls


def test_each_step_is_timed_by_its_work_and_validation_gets_the_library_s_count(
    blas_calls, tmp_path
):
    """Every step runs between start and stop(task.work(batch)); before validation, and
    when training ends, the BLAS gets its own thread count back."""
    config = TrainConfig(epochs=2, optimizer="sgd", lr=0.1, threads=3)
    Trainer(ObservedTask(blas_calls), config, tmp_path, progress=False).run()
    step = ["start", ("stop", 3.0)]
    epoch = [*step, *step, "restore", "validate"]
    assert blas_calls == [("made", "numpy", 3), *epoch, *epoch, "restore"]


def test_a_diverged_step_is_not_timed_and_the_count_comes_back(blas_calls):
    config = TrainConfig(epochs=2, optimizer="sgd", lr=0.1)
    with pytest.raises(ElmanError, match="loss became nan at step 2"):
        Trainer(ObservedTask(blas_calls, nan_at=2), config, progress=False).run()
    assert blas_calls == [("made", "numpy", 0), "start", ("stop", 3.0), "start", "restore"]


class CountingTask(ObservedTask):
    """Notes the BLAS thread counts in force (``counts()``) at each step and validation."""

    def __init__(self, calls: list, counts, nan_at: int = 0) -> None:
        super().__init__(calls, nan_at)
        self.counts = counts

    def forward(self, batch):
        self.calls.append(("step", self.counts()))
        return super().forward(batch)

    def validate(self):
        self.calls.append(("validate", self.counts()))
        return QuadraticTask.validate(self)


def test_numpy_s_blas_runs_the_steps_with_threads_n_and_gets_its_count_back(
    blas_at_two_threads,
):
    """On the real library: --threads 1 holds for the steps only; validation, and the
    library after training (finished or failed), have the library's own count (two). The
    torch backend's steps leave numpy's BLAS as it is."""
    counts = blas_at_two_threads
    config = TrainConfig(epochs=1, optimizer="sgd", lr=0.1, threads=1)
    calls: list = []
    Trainer(CountingTask(calls, counts), config, progress=False).run()
    assert calls == [("step", {1}), ("step", {1}), ("validate", {2})]
    assert counts() == {2}
    with pytest.raises(ElmanError, match="loss became nan"):
        Trainer(CountingTask([], counts, nan_at=1), config, progress=False).run()
    assert counts() == {2}

    calls = []
    task = CountingTask(calls, counts)
    task.model.arrays.backend = "torch"
    Trainer(task, config, progress=False).run()
    assert calls == [("step", {2}), ("step", {2}), ("validate", {2})]
