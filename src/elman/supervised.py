"""The training loop of the classifier and the tagger: whole sequences in padded batches.

The loop of ``elman.train`` without truncated BPTT, in plain sight:
batch -> zero grads -> forward -> backward -> clip -> update -> log, then after
each epoch a validation pass that decides which weights to keep.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from tqdm import tqdm

from elman.config import TrainConfig
from elman.errors import ElmanError
from elman.numbers import dumps
from elman.optim import make_optimizer
from elman.train import diverged, require_an_end, uniform_note


class SequenceModel(Protocol):
    """What the loop needs of a model (``Classifier``, ``Tagger``)."""

    flat_params: np.ndarray
    flat_grads: np.ndarray
    loss_sum: float  # summed loss of the last forward (weighted, if weights are used)
    loss_count: float  # what it was summed over: sequences, tokens, or the summed weights
    training: bool
    outputs: int  # the choices each prediction is among: classes or tags

    def zero_grad(self) -> None: ...
    def forward(self, batch: Any) -> float: ...
    def backward(self) -> None: ...


def fit(
    model: SequenceModel,
    batches: Callable[[np.random.Generator], Sequence[Any]],
    config: TrainConfig,
    validate: Callable[[], dict[str, float]] | None = None,
    criterion: str = "accuracy",
    save: Callable[[dict[str, Any]], None] | None = None,
    metrics: Path | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Train ``model`` and return one record per epoch.

    ``batches(rng)`` gives one epoch's batches, shuffled with ``rng``. After each
    epoch ``validate()`` scores the model (dropout off) and its ``criterion`` (higher
    is better; ties go to the lower validation loss) decides whether these are the
    best weights so far; if not, the learning rate is divided by ``config.lr_decay``.
    Without ``validate`` the latest weights are the best. ``save(record)`` is called
    with the epoch's record whenever the best weights change, and records are
    appended to ``metrics`` (JSON lines). On return the model holds the best weights.
    """
    require_an_end(config)
    optimizer = make_optimizer(config.optimizer, model.flat_params, config.learning_rate)
    rng = np.random.default_rng([config.seed, 2])  # batch order; apart from init and dropout

    def log(record: dict[str, Any]) -> None:
        if metrics is not None:
            with open(metrics, "a", encoding="utf-8") as f:
                f.write(dumps(record) + "\n")

    history: list[dict[str, Any]] = []
    best: tuple[float, float] = (-math.inf, -math.inf)  # (criterion, -loss)
    best_params = model.flat_params.copy()
    step, epoch, stop = 0, 0, False
    uniform_loss = math.log(model.outputs)
    start = time.perf_counter()
    while not stop:
        epoch += 1
        model.training = True
        total, count = 0.0, 0.0
        bar = tqdm(
            batches(rng),
            desc=f"epoch {epoch}",
            unit="batch",
            disable=not progress,
            dynamic_ncols=True,
            mininterval=0.5,
        )
        for batch in bar:
            model.zero_grad()
            loss = model.forward(batch)
            if diverged(loss, uniform_loss):
                raise ElmanError(
                    f"the training loss became {loss:.4g} at step {step + 1}, so the weights "
                    f"were not updated{uniform_note(loss, uniform_loss)}; lower --lr "
                    f"(now {optimizer.lr:g})"
                    + (" or --clip." if config.clip else " or set --clip, e.g. 1.")
                )
            model.backward()
            grad_norm = optimizer.step(model.flat_grads, clip=config.clip)
            step += 1
            total += model.loss_sum
            count += model.loss_count
            bar.set_postfix(loss=f"{total / max(count, 1e-12):.4f}", refresh=False)
            if step % config.log_every == 0:
                log(
                    {
                        "event": "step",
                        "epoch": epoch,
                        "step": step,
                        "loss": loss,
                        "grad_norm": grad_norm,
                        "lr": optimizer.lr,
                    }
                )
            if (config.max_steps and step >= config.max_steps) or (
                config.max_minutes and time.perf_counter() - start >= 60 * config.max_minutes
            ):
                stop = True
                break
        bar.close()
        if config.epochs and epoch >= config.epochs:
            stop = True

        record: dict[str, Any] = {
            "event": "epoch",
            "epoch": epoch,
            "step": step,
            "train_loss": total / max(count, 1e-12),
            "lr": optimizer.lr,
            "seconds": time.perf_counter() - start,
        }
        if validate is not None:
            model.training = False
            # Plain floats: numpy scalars would reach the JSON record, and on a tie in the
            # criterion the tuple comparison below would return numpy's bool, not a bool.
            scores = {key: float(value) for key, value in validate().items()}
            record.update({f"valid_{key}": value for key, value in scores.items()})
            score = (scores[criterion], -scores["loss"])
            improved = score > best
            if improved:
                best = score
            elif config.lr_decay > 1:
                optimizer.lr /= config.lr_decay
        else:
            improved = True  # nothing to compare with: keep the latest
        if improved:
            best_params[...] = model.flat_params
        record["saved"] = improved and save is not None
        if record["saved"]:
            save({k: v for k, v in record.items() if k not in ("event", "saved")})
        history.append(record)
        log(record)
        if progress:
            valid_part = (
                f", valid {criterion} {record[f'valid_{criterion}']:.4f}"
                if validate is not None
                else ""
            )
            tqdm.write(
                f"epoch {epoch}: train loss {record['train_loss']:.4f}{valid_part}"
                f"{' (saved)' if record['saved'] else ''}, lr {record['lr']:g}"
                + (f", now {optimizer.lr:g}" if optimizer.lr != record["lr"] else "")
                + f", {record['seconds']:.0f} s"
            )
    model.flat_params[...] = best_params
    model.training = False
    return history
