"""The one training loop, for every kind of model.

The loop is the one from the textbook, in plain sight (``Trainer._step``):

    batch -> zero grads -> forward -> backward -> clip -> update -> log

and after each epoch: validate, keep the best weights, decay the learning rate.
What differs between a language model, a classifier and a tagger (their batches,
their loss, how they are validated and saved) is a ``Task``
(``elman.lm.task.LanguageModelTask``, ...); everything else is here, once:
clipping, the learning-rate schedule, weight averaging, ``metrics.jsonl``, the
divergence rule and its rollback, SIGINT/SIGTERM, the training state that
``--resume`` continues from, the number of BLAS threads each step runs with
(``elman.blas``: one or all, whichever the steps' timings favour; ``--threads N``
keeps N), and who computes the recurrent layers' products (``elman.gemm``: numpy, or
MKL's packed products, ``--gemm``).

The training state (``DIR/resume.safetensors``, written atomically every
``save_every`` steps, at each epoch's end and on SIGINT/SIGTERM) holds the weights,
the best weights, the running average, the optimiser's arrays, the recurrent state
carried between batches, and in its header where training stands, the optimiser's
numbers and both random generators (dropout, and the order of batches at the
epoch's start). Nothing in it depends on time: a run killed with SIGKILL and resumed
writes the same files, byte for byte, as one never interrupted, given the same BLAS
thread count throughout (``--threads N``: one and two threads round some products
differently, and the count chosen by timing may differ between runs); the product path
is then kept in the state too, since numpy's and MKL's round differently. The training time
spent so far, which ``--max-minutes`` counts, is the ``seconds`` of the last ``save``
record in ``metrics.jsonl``, and the epoch records there are the run's history.

The model's flat buffers are NumPy arrays, or torch tensors on a device for the PyTorch
backend (``elman.torch_backend``): the loop reaches them through in-place arithmetic
and the few operations of ``model.arrays`` (``elman.nn.parameters.NumpyArrays``), so
both backends train in this one loop. In a data-parallel run (``torchrun``) every
process runs this loop on its share of each batch, the model all-reducing the loss and
the gradient; ``world`` says which process writes the files (the primary, rank 0) and
makes every process stop at the same step (``World.any``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from tqdm import tqdm

from elman.blas import BlasThreads
from elman.checkpoint import atomic_write_text, read_tensors, write_tensors
from elman.config import TrainConfig
from elman.errors import ElmanError, LimitReached, TrainingInterrupted, os_error_fix
from elman.gemm import choose, mkl_problem
from elman.nn.products import Gemm
from elman.optim import make_optimizer
from elman.strict_json import dumps, read_json_lines

RESUME_FILE = "resume.safetensors"
METRICS_FILE = "metrics.jsonl"
MAX_ROLLBACKS = 3  # rollbacks in a row, without a save between them, before giving up
# A loss this many times that of a uniform guess (log V nats per token for V choices),
# or than FLOOR_NATS when that is larger, means training has diverged even while the loss
# is still finite. Healthy runs stay far below it: ptb-lstm-medium at learning rate 35
# peaks at 10.2 nats (log V = 9.21) in its first 1,200 steps, and a classifier of few
# classes can be confidently wrong about a whole batch for a few nats per text.
DIVERGENCE_FACTOR = 3.0
DIVERGENCE_FLOOR_NATS = 10.0


def diverged(loss: float, reference: float) -> bool:
    """Whether a loss means training has diverged: it is NaN or infinite, or above
    ``DIVERGENCE_FACTOR`` times ``reference`` (for training, log V, the loss of a uniform
    guess over V choices, where training starts) or times ``DIVERGENCE_FLOOR_NATS``,
    whichever is larger. Some BLAS kernels overflow to NaN within a step or two of a
    runaway learning rate, others stay finite at 1e30 for a while: the second rule stops
    both at the same step."""
    return not loss <= DIVERGENCE_FACTOR * max(reference, DIVERGENCE_FLOOR_NATS)  # NaN too


def require_an_end(config: TrainConfig) -> None:
    """Refuse settings under which training would never stop."""
    if config.epochs == 0 and config.max_steps == 0 and config.max_minutes == 0:
        raise ElmanError("training would never stop; give --epochs, --max-steps or --max-minutes.")


class Task(Protocol):
    """A kind of model as the training loop sees it.

    ``model`` has ``flat_params`` and ``flat_grads`` (every parameter, as views into
    them), ``arrays`` (the operations on them: ``NumpyArrays`` or the torch backend's),
    ``training`` (dropout on), ``zero_grad()``, ``backward()`` and ``dropout_rng``; on the
    NumPy engine also ``recurrent`` and ``use_gemm`` (``nn.Network``'s).
    """

    model: Any
    command: str  # the elman command that trains it, for messages: "train", "classify train"
    unit: str  # what the loss counts, for speeds and messages: "tokens", "texts", "words"
    uniform_loss: float  # the loss of a uniform guess, log of the number of choices

    def epoch_batches(self, rng: np.random.Generator) -> Sequence[Any]:
        """One epoch's batches, in the order they are trained on (``rng`` may shuffle)."""

    def forward(self, batch: Any) -> tuple[float, float, float]:
        """(mean loss, summed loss, what it is summed over) of a batch, ready for backward."""

    def work(self, batch: Any) -> float:
        """How much computing a step on ``batch`` takes, in a unit that grows with it (its
        padded tokens): steps of different sizes are timed per unit of work (``elman.blas``)."""

    def validate(self) -> dict[str, float] | None:
        """The held-out figures of the model as it is now (``loss`` among them), or None
        without held-out data."""

    def rehearse(self) -> None:
        """What ``validate`` (and the test at the end) computes, on one batch of the
        largest held-out sequences: a run that cannot take it fails before it starts."""

    def score(self, figures: dict[str, float]) -> tuple[float, ...]:
        """How good ``validate``'s figures are: higher is better, compared as tuples."""

    def describe(self, record: dict[str, Any]) -> str:
        """An epoch record's figures in a few words, for the line printed after it."""

    def train_figures(self, mean_loss: float) -> dict[str, float]:
        """What an epoch record says about the training loss besides ``train_loss``."""

    def save(self, out: Path, info: dict[str, Any]) -> None:
        """Write the model as it is now (the best so far) as a checkpoint in ``out``."""

    def carried_state(self) -> list:
        """The recurrent state carried from batch to batch (``[]`` if nothing is)."""

    def restore_carried_state(self, state: list) -> None: ...


class World(Protocol):
    """The processes training one model together (``elman.torch_backend.distributed``)."""

    primary: bool  # whether this process writes checkpoints, metrics and the training state

    def any(self, flag: bool) -> bool:
        """Whether ``flag`` is true in any process; every process must call it."""


class Alone:
    """A run in one process: it writes the files, and agrees with itself."""

    primary = True

    def any(self, flag: bool) -> bool:
        return flag


class WholeSequenceTask:
    """What a ``Task`` whose model reads each sequence whole, from a zero state, shares
    (a classifier, a tagger): nothing is carried between batches, the model's
    ``forward(batch)`` leaves ``loss_sum`` and ``loss_count``, the best model is the one
    with the highest validation ``headline`` (ties to the lower loss), a batch's work is
    its padded ids (B, T), and a checkpoint ``ckpt`` with an ``info`` record is saved by
    ``save_checkpoint``.
    A subclass sets ``command``, ``unit``, ``headline`` and ``uniform_loss`` and gives
    ``epoch_batches``, ``validate``, ``save_checkpoint``, and ``lengths`` and ``rows``, by
    which ``rehearse`` validates the longest held-out sequences."""

    headline: str  # the validation figure that picks the best model: "accuracy", "macro_f1"

    def __init__(self, ckpt: Any, train_data: Any, valid_data: Any | None) -> None:
        self.ckpt, self.model = ckpt, ckpt.model
        self.train_data, self.valid_data = train_data, valid_data

    def forward(self, batch: Any) -> tuple[float, float, float]:
        loss = self.model.forward(batch)
        return loss, self.model.loss_sum, self.model.loss_count

    def work(self, batch: Any) -> float:
        return batch.ids.size

    def rehearse(self) -> None:
        if self.valid_data is None:
            return
        held_out = self.valid_data
        rows = np.argsort(-self.lengths(held_out), kind="stable")[
            : self.ckpt.train_config.eval_batch
        ]
        self.valid_data = self.rows(held_out, rows)
        try:
            self.validate()
        finally:
            self.valid_data = held_out

    def lengths(self, data: Any) -> np.ndarray:
        """How long each sequence of ``data`` is, in what validation's memory grows with."""
        raise NotImplementedError

    def rows(self, data: Any, rows: np.ndarray) -> Any:
        """The sequences ``rows`` of ``data``, as data of the same kind."""
        raise NotImplementedError

    def score(self, figures: dict[str, float]) -> tuple[float, ...]:
        return (figures[self.headline], -figures["loss"])

    def train_figures(self, mean_loss: float) -> dict[str, float]:
        return {}

    def describe(self, record: dict[str, Any]) -> str:
        key = f"valid_{self.headline}"
        valid = f", valid {self.headline} {record[key]:.4f}" if key in record else ""
        return f"train loss {record['train_loss']:.4f}{valid}"

    def save(self, out: Path, info: dict[str, Any]) -> None:
        self.ckpt.info = info
        self.save_checkpoint(out)

    def save_checkpoint(self, out: Path) -> None:
        raise NotImplementedError

    def carried_state(self) -> list:
        return []  # every sequence is read from a zero state

    def restore_carried_state(self, state: list) -> None:
        pass


def train(task: Task, config: TrainConfig, out: str | Path | None, progress: bool) -> list:
    """Train ``task`` from the start (``out`` created if needed); one record per epoch."""
    if out is not None:
        Path(out).mkdir(parents=True, exist_ok=True)
    return Trainer(task, config, out, progress).run()


@dataclass
class Progress:
    """Where training stands, besides the arrays: what resuming restores."""

    epoch: int = 1  # the epoch under way, from 1
    batch: int = 0  # index of the next batch of this epoch
    step: int = 0  # updates made so far
    best: tuple[float, ...] | None = None  # Task.score of the best validation so far
    best_at_epoch_end: tuple[float, ...] | None = None  # the same over whole epochs only
    epoch_loss: float = 0.0  # summed training loss of this epoch so far
    epoch_count: float = 0.0  # what epoch_loss is summed over (tokens, texts, words)
    averaged_steps: int = 0  # steps in the running average of the weights (average_after)
    order_rng: dict[str, Any] | None = None  # the batch-order generator at the epoch's start

    @classmethod
    def from_header(cls, saved: dict[str, Any]) -> Progress:
        """Progress as saved; states from before the one loop stored a language model's
        best perplexity (lower is better) and other names."""
        saved = dict(saved)
        for old in ("seconds", "history"):
            saved.pop(old, None)
        if "epoch_tokens" in saved:
            saved["epoch_count"] = saved.pop("epoch_tokens")
        for name in ("best", "best_at_epoch_end"):
            value = saved.get(name)
            if isinstance(value, (int, float)):  # a perplexity: the score is its negative
                saved[name] = None if math.isinf(value) else (-value,)
            elif value is not None:
                saved[name] = tuple(value)
        return cls(**saved)


def better(score: tuple[float, ...], than: tuple[float, ...] | None) -> bool:
    """Whether ``score`` beats ``than`` (None: nothing to beat yet)."""
    return than is None or bool(score > than)


class Trainer:
    """Trains a ``Task``'s model with ``config``; with ``out``, it keeps the best
    checkpoint, ``metrics.jsonl`` and the training state there.

    ``Trainer(...).run()`` trains from the start; ``resume=True`` continues from the
    state in ``out`` (``LimitReached`` if the run is already as far as ``config``
    asks). ``catch_signals`` turns SIGINT and SIGTERM into a save and a
    ``TrainingInterrupted``. On return the model holds the best weights seen. In a
    data-parallel run, ``world`` says which process writes the files in ``out`` (the
    others read them, to resume or roll back: ``out`` must be a directory they all see).
    """

    def __init__(
        self,
        task: Task,
        config: TrainConfig,
        out: str | Path | None = None,
        progress: bool = True,
        resume: bool = False,
        catch_signals: bool = False,
        world: World | None = None,
    ) -> None:
        require_an_end(config)
        if config.on_nan == "rollback" and out is None:
            raise ElmanError("--on-nan rollback needs --out, where the training state is saved.")
        if resume and out is None:
            raise ValueError("resuming needs the out directory that holds the training state")
        self.task, self.config, self.model = task, config, task.model
        self.arrays = arrays = self.model.arrays
        self.world = world or Alone()
        self.out = None if out is None else Path(out)
        self.writes = self.out is not None and self.world.primary
        self.show_progress, self.catch_signals = progress and self.world.primary, catch_signals
        self.optimizer = make_optimizer(
            config.optimizer, self.model.flat_params, config.learning_rate, arrays
        )
        self.order_rng = np.random.default_rng([config.seed, 2])  # apart from init and dropout
        self.best_params = arrays.copy(self.model.flat_params)
        self.average: Any = None  # a buffer like flat_params once averaging starts
        # average_after: the difference a_n - w_n is formed here; a fresh array of the
        # model's size at every step costs more than the arithmetic.
        self.scratch = arrays.zeros_like(self.model.flat_params) if config.average_after else None
        self.p = Progress()
        self.history: list[dict[str, Any]] = []
        self.seconds_before = 0.0  # training time spent in earlier processes
        self.start = time.perf_counter()
        self.bad_loss = math.nan  # the loss that diverged, for its message
        self.bad_in_validation = False  # ... a validation loss, not a training step's
        self.resumed = resume
        self.saved_step: int | None = None  # the step of the training state in out, if any
        self.recorded_gemm: str | None = None  # the product path a resumed state names
        self.gemm: Gemm | None = None  # who computes the recurrent products (NumPy engine)
        if resume:
            self._resume()
        self._use_gemm()
        # After the gemm: a loaded MKL is one of the libraries whose threads it sets.
        self.blas = BlasThreads.for_arrays(arrays, config.threads)  # each step's BLAS threads

    def _use_gemm(self) -> None:
        """Who computes the recurrent layers' products on the NumPy engine (``elman.gemm``):
        as --gemm says, "auto" timed now; a run resumed with --threads N keeps the path its
        state names, so that it repeats bit for bit (the two paths round differently)."""
        if self.arrays.backend != "numpy":
            return  # torch computes its own products
        requested, config = self.config.gemm, self.config
        if requested == "auto" and config.threads and self.recorded_gemm is not None:
            requested = self.recorded_gemm
            problem = mkl_problem() if requested == "mkl" else None
            if problem:
                raise ElmanError(
                    f"the run in {self.out} trained on MKL's products with --threads "
                    f"{config.threads}, and resuming it exactly needs them again, but {problem}."
                )
        self.gemm = choose(requested, self.model, config.batch, config.threads)
        self.model.use_gemm(self.gemm)

    # The run ------------------------------------------------------------------------

    def rehearse(self) -> None:
        """Run once, in memory, the largest step of the first epoch (forward and backward;
        the gradients then dropped) and the task's rehearsal of validation, so that a run
        that cannot train (too little memory, a sequence too long) fails before anything
        is written. Nothing of the run changes: the order of batches, the dropout
        generator and the carried state are put back, and the weights are not updated."""
        model, task = self.model, self.task
        order, dropout = self.order_rng.bit_generator.state, model.dropout_rng.bit_generator.state
        carried = task.carried_state()
        batches = task.epoch_batches(self.order_rng)
        self.order_rng.bit_generator.state = order
        if len(batches):
            largest = max((batches[i] for i in range(len(batches))), key=task.work)
            model.training = True
            model.zero_grad()
            task.forward(largest)
            model.backward()
            model.zero_grad()
        model.training = False
        task.rehearse()
        model.dropout_rng.bit_generator.state = dropout
        task.restore_carried_state(carried)

    def run(self) -> list[dict[str, Any]]:
        """Train until a limit is reached; return one record per epoch."""
        if not self.resumed:
            self._save_state()  # a run stopped before its first save can resume or roll back
        self.start = time.perf_counter()
        rollbacks = 0  # since the last save: a run that keeps diverging stops after a few
        stop = False
        # The BLAS gets its own thread count back when training ends, however it ends.
        with _signals_to_flag(self.catch_signals) as interrupted, self.blas:
            while not stop:
                batches = self._epoch_batches()
                epoch_start, count_before = time.perf_counter(), self.p.epoch_count
                self.model.training = True  # dropout on
                with self._bar(len(batches)) as bar:
                    while self.p.batch < len(batches):
                        outcome = self._step(batches[self.p.batch], bar, epoch_start, count_before)
                        if outcome == "diverged":
                            if self.config.on_nan != "rollback" or rollbacks >= MAX_ROLLBACKS:
                                raise self._divergence_error()
                            rollbacks += 1
                            self._roll_back()
                            bar.n = self.p.batch
                            continue
                        if self.world.any(bool(interrupted)):  # every process stops here
                            self._save_state()
                            signal_name = interrupted[0] if interrupted else "a signal"
                            raise TrainingInterrupted(
                                f"training stopped by {signal_name} at step {self.p.step} "
                                f"(epoch {self.p.epoch}); its state is saved in {self.out}, "
                                f"continue with: elman {self.task.command} --resume {self.out}"
                            )
                        if self.config.save_every and self.p.step % self.config.save_every == 0:
                            self._save_state()
                            rollbacks = 0
                        if self._limit_reached_mid_epoch():
                            stop = True
                            break
                self.blas.restore()  # the library's own count back: validation chooses its own
                finished = self.p.batch >= len(batches)
                if self.config.epochs and self.p.epoch >= self.config.epochs:
                    stop = True
                speed = (self.p.epoch_count - count_before) / (time.perf_counter() - epoch_start)
                if self._end_epoch(finished, speed) == "diverged":  # in validation
                    if self.config.on_nan != "rollback" or rollbacks >= MAX_ROLLBACKS:
                        raise self._divergence_error()
                    rollbacks += 1
                    self._roll_back()
                    stop = False  # back before the limit that stopped it
                    continue
                if not stop:  # the next epoch starts from its first batch
                    self._next_epoch()
                self._save_state()
        self.model.flat_params[...] = self.best_params
        self.model.training = False
        return self.history

    def _step(self, batch: Any, bar: tqdm, epoch_start: float, count_before: float) -> str:
        """One update on ``batch``: "ok", or "diverged" with the weights left as they were."""
        model, config, p = self.model, self.config, self.p
        self.blas.start()  # this step's BLAS thread count, and its clock
        model.zero_grad()
        loss, loss_sum, count = self.task.forward(batch)
        if diverged(loss, self.task.uniform_loss):
            self.bad_loss, self.bad_in_validation = loss, False
            return "diverged"  # a step never stopped is not timed
        model.backward()
        grad_norm = self.optimizer.step(model.flat_grads, clip=config.clip)
        self.blas.stop(self.task.work(batch))
        p.step += 1
        p.batch += 1
        if config.average_after and p.epoch > config.average_after:
            self._update_average()
        p.epoch_loss += loss_sum
        p.epoch_count += count
        speed = (p.epoch_count - count_before) / (time.perf_counter() - epoch_start)
        mean = p.epoch_loss / max(p.epoch_count, 1e-12)
        bar.update()
        figures = self.task.train_figures(mean)
        bar.set_postfix(
            loss=f"{mean:.3f}",
            **{key.removeprefix("train_"): f"{value:.1f}" for key, value in figures.items()},
            **{f"{self.task.unit}/s": f"{speed:,.0f}"},
            refresh=False,
        )
        if p.step % config.log_every == 0:
            self._log(
                {
                    "event": "step",
                    "epoch": p.epoch,
                    "step": p.step,
                    "loss": loss,
                    "grad_norm": grad_norm,
                    "lr": self.optimizer.lr,
                    f"{self.task.unit}_per_s": speed,
                }
            )
        return "ok"

    def _divergence_error(self) -> ElmanError:
        loss, uniform = self.bad_loss, self.task.uniform_loss
        note = f" (a uniform guess scores {uniform:.4g})" if math.isfinite(loss) else ""
        clip = " or --clip." if self.config.clip else " or set --clip, e.g. 1."
        if self.bad_in_validation:
            happened = (
                f"the validation loss became {loss:.4g} after step {self.p.step}{note}, so that "
                "model was not kept"
            )
        else:
            happened = (
                f"the training loss became {loss:.4g} at step {self.p.step + 1}, so the "
                f"weights were not updated{note}"
            )
        return ElmanError(f"{happened}; lower --lr (now {self.optimizer.lr:g}){clip}")

    def _roll_back(self) -> None:
        """Back to the last saved state (within this epoch: one is saved at every epoch's
        end), to go on more carefully from there: the learning rate divided by --lr-decay."""
        bad_step = self.p.step + (0 if self.bad_in_validation else 1)
        self._load_state()
        self.optimizer.lr /= self.config.lr_decay if self.config.lr_decay > 1 else 2.0
        self._log(
            {"event": "rollback", "step": bad_step, "to_step": self.p.step, "lr": self.optimizer.lr}
        )
        where = "in validation after" if self.bad_in_validation else "at"
        tqdm.write(
            f"loss {self.bad_loss:.4g} {where} step {bad_step}: back to step {self.p.step} "
            f"with lr {self.optimizer.lr:g}"
        )

    def _epoch_batches(self) -> Sequence[Any]:
        """This epoch's batches, the order generator rewound to the epoch's start (so a
        resumed epoch gets the same batches as the interrupted one)."""
        if self.p.order_rng is None:
            self.p.order_rng = self.order_rng.bit_generator.state
        self.order_rng.bit_generator.state = self.p.order_rng
        return self.task.epoch_batches(self.order_rng)

    def _next_epoch(self) -> None:
        p = self.p
        p.epoch, p.batch, p.epoch_loss, p.epoch_count = p.epoch + 1, 0, 0.0, 0.0
        p.order_rng = self.order_rng.bit_generator.state  # where this epoch's order starts

    def _end_epoch(self, finished: bool, speed: float) -> str:
        """Validate, keep the best weights, decay the learning rate; log the epoch; "ok",
        or "diverged" when the validation loss is one that ``diverged`` calls so (NaN, an
        overflowed state, or far above a uniform guess), with nothing kept or logged.

        Validation, the saved model and the test use the average of the weights once it
        exists. An epoch cut short by a step or time limit (``finished`` false) is
        validated and its best weights kept, but the rate stays: the epoch may resume,
        and it decays once, when it ends."""
        p, config = self.p, self.config
        mean = p.epoch_loss / max(p.epoch_count, 1e-12)
        record: dict[str, Any] = {
            "event": "epoch",
            "epoch": p.epoch,
            "step": p.step,
            "train_loss": mean,
            **self.task.train_figures(mean),
            "lr": self.optimizer.lr,
        }
        improved, plateau = True, False  # without validation: the latest weights, no decay
        with self._weights(self.average):
            self.model.training = False
            figures = self.task.validate()
            if figures is not None:
                # Plain numbers: numpy scalars would reach the records and the comparisons.
                figures = {
                    k: v.item() if isinstance(v, np.generic) else v for k, v in figures.items()
                }
                if diverged(figures["loss"], self.task.uniform_loss):
                    self.bad_loss, self.bad_in_validation = figures["loss"], True
                    return "diverged"
                record.update({f"valid_{key}": value for key, value in figures.items()})
                score = self.task.score(figures)
                improved = better(score, p.best)
                if improved:
                    p.best = score
                if finished:  # a run cut short compares epochs' ends as an unbroken run would
                    plateau = not better(score, p.best_at_epoch_end)
                    if not plateau:
                        p.best_at_epoch_end = score
            if not finished:
                record["partial"] = True
            record["averaged_steps"] = p.averaged_steps
            record["seconds"] = self.seconds
            record[f"{self.task.unit}_per_s"] = speed
            record["saved"] = improved and self.out is not None
            if improved:
                self.best_params[...] = self.model.flat_params
            if record["saved"] and self.writes:
                self.task.save(
                    self.out, {k: v for k, v in record.items() if k not in ("event", "saved")}
                )
        scheduled = config.decay_after and p.epoch >= config.decay_after
        if finished and config.lr_decay > 1 and (scheduled or plateau):
            self.optimizer.lr /= config.lr_decay
        self.history.append(record)
        self._log(record)
        if self.show_progress:
            tqdm.write(self._describe(record))
        return "ok"

    def _describe(self, record: dict[str, Any]) -> str:
        saved = " (saved)" if record["saved"] else ""
        lr_now = self.optimizer.lr
        decayed = f", now {lr_now:g}" if lr_now != record["lr"] else ""
        part = ", stopped part-way" if record.get("partial") else ""
        return (
            f"epoch {record['epoch']}{part}: {self.task.describe(record)}{saved}, "
            f"lr {record['lr']:g}{decayed}, {record['seconds']:.0f} s"
        )

    # Limits, time and the running average ------------------------------------------

    @property
    def seconds(self) -> float:
        """Training time so far, over every process of this run."""
        return self.seconds_before + time.perf_counter() - self.start

    def _limit_reached_mid_epoch(self) -> bool:
        config = self.config
        if config.max_steps and self.p.step >= config.max_steps:
            return True  # at the same step in every process
        # Clocks differ between processes: they all stop when any has run out of time.
        out_of_time = bool(config.max_minutes and self.seconds >= 60 * config.max_minutes)
        return self.world.any(out_of_time)

    def limit_reached(self) -> str | None:
        """What limit the run, standing where the next step would be, has reached, in
        words (None: it may go on)."""
        config, p = self.config, self.p
        if config.epochs and p.epoch > config.epochs:
            return f"finished its {config.epochs} epoch" + ("" if config.epochs == 1 else "s")
        if config.max_steps and p.step >= config.max_steps:
            return f"made {p.step} steps (--max-steps {config.max_steps})"
        if config.max_minutes and self.seconds_before >= 60 * config.max_minutes:
            minutes = self.seconds_before / 60
            return f"trained {minutes:.1f} minutes (--max-minutes {config.max_minutes:g})"
        return None

    def _update_average(self) -> None:
        """The running mean of the weights after each step: a_n = a_{n-1} + (w_n - a_{n-1}) / n
        (Polyak averaging, as in AWD-LSTM's averaged SGD)."""
        self.p.averaged_steps += 1
        if self.average is None:
            self.average = self.arrays.copy(self.model.flat_params)
            return
        difference = self.scratch
        difference[...] = self.model.flat_params
        difference -= self.average
        difference /= self.p.averaged_steps
        self.average += difference

    @contextmanager
    def _weights(self, weights: Any) -> Iterator[None]:
        """Put ``weights`` (if any) in the model for a while; training goes on from its own."""
        if weights is None:
            yield
            return
        trained = self.arrays.copy(self.model.flat_params)
        self.model.flat_params[...] = weights
        try:
            yield
        finally:
            self.model.flat_params[...] = trained

    # The training state and metrics.jsonl -------------------------------------------

    def _log(self, record: dict[str, Any]) -> None:
        if self.writes:
            with self._writing(), open(self.out / METRICS_FILE, "a", encoding="utf-8") as f:
                f.write(dumps(record) + "\n")

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """A write into ``out`` that the system refuses (a full disk, a read-only
        directory) ends training with what is true of the run: the step of the training
        state it can resume from, or that none was saved yet. Every file but
        metrics.jsonl is renamed into place once whole, and a last line of metrics.jsonl
        cut short is left out when the run resumes (``read_metrics_records``)."""
        try:
            yield
        except OSError as e:
            where = f" ({e.filename})" if e.filename else ""
            problem = f"cannot write to {self.out}: {e.strerror or e}{where}"
            if self.saved_step is None:
                raise ElmanError(
                    f"{problem}, and no training state was saved before, so the run cannot "
                    f"resume; {os_error_fix(e)} and start it again (with --overwrite)."
                ) from e
            raise ElmanError(
                f"{problem}; {os_error_fix(e)}, then continue from the training state saved "
                f"at step {self.saved_step} with: elman {self.task.command} --resume "
                f"{self.out}"
            ) from e

    def _save_state(self) -> None:
        """Write a ``save`` record with the training time so far, then the training state
        (see the module doc). In this order a run killed between the two resumes from the
        state before, and drops the record with the others after that state's step; in the
        other order the state would have no record, and the resumed run's metrics would
        lack it (a kill seen right after the state appears lands there)."""
        if self.out is None:
            return
        # Every process takes part: the carried state is gathered from all of them.
        carried = self.task.carried_state()
        if not self.writes:
            return
        model, p, to_numpy = self.model, self.p, self.arrays.to_numpy
        buffers, numbers = self.optimizer.state()
        tensors = {"params": model.flat_params, "best_params": self.best_params}
        if self.average is not None:
            tensors["average_params"] = self.average
        tensors |= {f"optimizer.{name}": a for name, a in buffers.items()}
        tensors = {name: to_numpy(a) for name, a in tensors.items()}
        layout = []  # per layer: None (zeros), or how many arrays its state has
        for i, state in enumerate(carried):
            parts = None if state is None else (state if isinstance(state, tuple) else (state,))
            layout.append(None if parts is None else [len(parts), isinstance(state, tuple)])
            for j, part in enumerate(parts or ()):
                tensors[f"state.{i}.{j}"] = part
        header = {
            "backend": self.arrays.backend,
            **({"gemm": self.gemm.name} if self.gemm is not None else {}),
            "progress": dataclasses.asdict(p),
            "optimizer": numbers,
            "state_layout": layout,
            "dropout_rng": model.dropout_rng.bit_generator.state,
        }
        self._log({"event": "save", "epoch": p.epoch, "step": p.step, "seconds": self.seconds})
        with self._writing():
            write_tensors(self.out / RESUME_FILE, tensors, {"resume": header})
        self.saved_step = p.step

    def _load_state(self) -> None:
        """Restore everything ``_save_state`` wrote: weights, best weights, the average,
        the optimiser, the carried state, both generators and the progress."""
        path = self.out / RESUME_FILE
        if not path.is_file():
            raise ElmanError(
                f"{path} is missing, so there is no training state to resume; start a new run "
                "with --out instead."
            )
        tensors, file_header = read_tensors(path)
        model, arrays = self.model, self.arrays
        try:
            header = file_header["resume"]
            backend = header.get("backend", "numpy")
            self.recorded_gemm = header.get("gemm")
            if backend != arrays.backend:
                raise ElmanError(
                    f"{path} was written by the {backend} backend, whose weights are laid out "
                    f"differently; resume it with --backend {backend}."
                )
            names = self.optimizer.state()[0]
            expected = {"params", "best_params"} | {f"optimizer.{n}" for n in names}
            if not expected <= set(tensors) or tensors["params"].shape != model.flat_params.shape:
                raise KeyError("tensors")
            model.flat_params[...] = arrays.from_numpy(tensors["params"])
            self.best_params[...] = arrays.from_numpy(tensors["best_params"])
            average = tensors.get("average_params")
            self.average = None if average is None else arrays.from_numpy(average)
            buffers = {name: tensors[f"optimizer.{name}"] for name in names}
            self.optimizer.load_state(buffers, header["optimizer"])
            states = []
            for i, layer in enumerate(header["state_layout"]):
                if layer is None:
                    states.append(None)
                    continue
                count, is_tuple = layer
                parts = tuple(tensors[f"state.{i}.{j}"].astype(arrays.dtype) for j in range(count))
                states.append(parts if is_tuple else parts[0])
            self.task.restore_carried_state(states)
            model.dropout_rng.bit_generator.state = header["dropout_rng"]
            self.p = Progress.from_header(header["progress"])
            self.saved_step = self.p.step
        except (KeyError, TypeError, ValueError) as e:
            raise ElmanError(
                f"{path} does not hold a training state for this model ({e}); it belongs to "
                "another run or another version of elman, so start a new run with --out."
            ) from e

    def _resume(self) -> None:
        """Continue from the state in ``out``: weights, optimiser, progress, and from
        ``metrics.jsonl`` the history and the training time so far."""
        self._load_state()
        records, note = read_metrics_records(self.out / METRICS_FILE)
        if note and self.world.primary:
            print(f"note: {note}", file=sys.stderr)
        records = [r for r in records if r.get("step", 0) <= self.p.step]
        self.history = [r for r in records if r.get("event") == "epoch"]
        saves = [r["seconds"] for r in records if r.get("event") == "save"]
        self.seconds_before = saves[-1] if saves else 0.0
        if self.p.batch >= len(self._epoch_batches()):  # the epoch ended, validated: go on
            self._next_epoch()
        reached = self.limit_reached()
        if reached:
            raise LimitReached(
                f"the run in {self.out} has already {reached}; nothing to do (raise --epochs, "
                "--max-steps or --max-minutes to train on)."
            )
        if not self.writes:
            return
        # The records after the saved step are made again by the resumed run.
        lines = [dumps(record) + "\n" for record in records]
        with self._writing():
            atomic_write_text(self.out / METRICS_FILE, "".join(lines))

    @contextmanager
    def _bar(self, total: int) -> Iterator[tqdm]:
        with tqdm(
            total=total,
            initial=self.p.batch,
            desc=f"epoch {self.p.epoch}",
            unit="batch",
            disable=not self.show_progress,
            dynamic_ncols=True,
            mininterval=0.5,
        ) as bar:
            yield bar


def read_metrics_records(
    path: Path, check: Callable[[dict[str, Any]], str | None] | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """The records of a run's ``metrics.jsonl`` (none when it has none yet), and a note
    when its last line, cut short by a full disk or a kill, was left out
    (``strict_json.read_json_lines``): the one reader of the file, for resuming and for
    ``elman inspect curves``. A record whose ``step``, ``epoch`` or ``seconds`` is not a
    number, or that ``check`` finds a problem with, is refused, naming its line."""
    if not path.is_file():
        return [], None

    def numbers(record: dict[str, Any]) -> str | None:
        for name in ("step", "epoch", "seconds"):
            value = record.get(name)
            if value is not None and not is_number(value):
                return f"its {name} is {json.dumps(value)[:40]}, expected a number"
        return check(record) if check is not None else None

    lines = read_json_lines(path, numbers)
    note = None
    if lines.torn:
        note = (
            f"the last line of {path} was cut short (by a full disk or a kill while it was "
            "written), so it is left out"
        )
    return lines.records, note


def is_number(value: Any) -> bool:
    """Whether a JSON value is a number (a bool is not)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


@contextmanager
def _signals_to_flag(enabled: bool) -> Iterator[list[str]]:
    """While enabled, SIGINT and SIGTERM only append their name to the yielded list,
    which the loop checks after each step, so a signal never lands mid-update."""
    flag: list[str] = []
    if not enabled:
        yield flag
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def note(signum: int, frame: object) -> None:
        flag.append(signal.Signals(signum).name)

    for sig in previous:
        signal.signal(sig, note)
    try:
        yield flag
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
