"""Training with truncated backpropagation through time.

The loop is the one from the textbook, in plain sight:
batch -> zero grads -> forward -> backward -> clip -> update -> log.

Everything else that changes during training (epoch, position in the data,
step count, best perplexity, learning rate, optimiser moments, carried hidden
state, dropout generator) is saved in ``DIR/resume.safetensors`` every
``save_every`` steps, at each epoch's end and on SIGINT/SIGTERM, so that
``elman train --resume DIR`` continues exactly where training stood.
"""

from __future__ import annotations

import dataclasses
import json
import math
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from elman import checkpoint
from elman.config import TrainConfig
from elman.data.batching import make_batches
from elman.data.tokenizers import CharTokenizer, WordTokenizer
from elman.errors import ElmanError
from elman.evaluate import evaluate_ids
from elman.model import LanguageModel
from elman.numbers import dumps, perplexity
from elman.optim import make_optimizer
from elman.resume import RESUME_FILE, load_resume, save_resume

MAX_ROLLBACKS = 3
# A loss this many times that of a uniform guess (log V nats per token for V choices),
# or than FLOOR_NATS when that is larger, means training has diverged even while the loss
# is still finite. Healthy runs stay far below it: ptb-lstm-medium at learning rate 35
# peaks at 10.2 nats (log V = 9.21) in its first 1,500 steps, and a classifier of few classes
# can be confidently wrong about a whole batch for a few nats per text.
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


def uniform_note(loss: float, uniform_loss: float) -> str:
    """For a finite loss that counts as diverged, what it is compared with."""
    return f" (a uniform guess scores {uniform_loss:.4g})" if math.isfinite(loss) else ""


class LimitReached(Exception):
    """A resumed run has already reached its --epochs, --max-steps or --max-minutes."""


class TrainingInterrupted(Exception):
    """SIGINT or SIGTERM arrived; the training state was saved before stopping."""


@dataclass
class Progress:
    """Where training stands, besides the arrays: what resuming restores."""

    epoch: int = 1  # the epoch under way, from 1
    batch: int = 0  # index of the next batch of this epoch
    step: int = 0  # updates made so far
    best: float = math.inf  # best validation perplexity so far
    best_at_epoch_end: float = math.inf  # the same over whole epochs only: the plateau rule's
    epoch_loss: float = 0.0  # summed training loss (nats) of this epoch so far
    epoch_tokens: int = 0  # tokens behind epoch_loss
    seconds: float = 0.0  # training time spent in earlier processes, for max_minutes
    averaged_steps: int = 0  # steps in the running average of the weights (average_after)
    history: list[dict[str, Any]] = field(default_factory=list)  # one record per epoch


def train(
    model: LanguageModel,
    tokenizer: CharTokenizer | WordTokenizer,
    train_text: str,
    valid_text: str | None = None,
    config: TrainConfig | None = None,
    out_dir: str | Path | None = None,
    progress: bool = True,
    resume: bool = False,
    catch_signals: bool = False,
) -> list[dict[str, Any]]:
    """Train ``model`` on ``train_text`` and return one record per epoch.

    After each epoch (and when a step or time limit stops training) the model is
    evaluated on ``valid_text``; when validation perplexity does not improve at an
    epoch's end (or, with ``decay_after``, at every epoch's end from then on) the
    learning rate is divided by ``config.lr_decay``. With ``out_dir``, the best
    model so far (by validation perplexity, or the latest without validation
    text) is saved there, metrics are appended to ``out_dir/metrics.jsonl`` and
    the training state to ``out_dir/resume.safetensors``; ``resume`` continues
    from that state. ``catch_signals`` turns SIGINT and SIGTERM into a save and a
    ``TrainingInterrupted``. On return ``model`` holds the best weights seen.
    """
    config = config or TrainConfig()
    train_ids, valid_ids = training_ids(tokenizer, train_text, valid_text, config)
    batches = make_batches(
        train_ids, model.config.state, tokenizer.eos_id, config.batch, config.bptt
    )
    optimizer = make_optimizer(config.optimizer, model.flat_params, config.learning_rate)
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    if resume:
        if out is None:
            raise ValueError("resuming needs the out_dir that holds the training state")
        best_params, saved, average = load_resume(out / RESUME_FILE, model, optimizer)
        p = Progress(**{"best_at_epoch_end": saved["best"], **saved})  # older states lack it
        if p.batch >= len(batches):  # the epoch ended and was validated: go on with the next
            p.epoch, p.batch, p.epoch_loss, p.epoch_tokens = p.epoch + 1, 0, 0.0, 0
        reached = limit_reached(config, p)
        if reached:
            raise LimitReached(
                f"the run in {out} has already {reached}; nothing to do (raise --epochs, "
                "--max-steps or --max-minutes to train on)."
            )
        _forget_metrics_after(out / "metrics.jsonl", p.step)
    else:
        best_params, p, average = model.flat_params.copy(), Progress(), None

    def log(record: dict[str, Any]) -> None:
        if out is not None:
            with open(out / "metrics.jsonl", "a", encoding="utf-8") as f:
                f.write(dumps(record) + "\n")

    def save_state() -> None:
        if out is not None:
            p.seconds += time.perf_counter() - start
            save_resume(
                out / RESUME_FILE, model, optimizer, best_params, dataclasses.asdict(p), average
            )
            p.seconds -= time.perf_counter() - start  # keep counting from this process's start

    if config.on_nan == "rollback" and out is None:
        raise ElmanError("--on-nan rollback needs --out, where the training state is saved.")
    scratch = np.empty_like(model.flat_params) if config.average_after else None
    uniform_loss = math.log(model.config.vocab_size)
    start = time.perf_counter()
    if not resume:
        save_state()  # so that a run stopped before its first save can resume or roll back
    stop = False
    rollbacks = 0  # since the last save; a run that keeps diverging stops after MAX_ROLLBACKS
    with _signals_to_flag(catch_signals) as interrupted:
        while not stop:
            model.training = True  # dropout on
            epoch_start = time.perf_counter()
            epoch_tokens_before = p.epoch_tokens
            with tqdm(
                total=len(batches),
                initial=p.batch,
                desc=f"epoch {p.epoch}",
                unit="batch",
                disable=not progress,
                dynamic_ncols=True,
                mininterval=0.5,
            ) as bar:
                while p.batch < len(batches):
                    batch = batches[p.batch]
                    if batch.reset:  # a new epoch (carry) or a new group of lines (reset)
                        model.reset_state()
                    model.zero_grad()
                    loss = model.forward(batch.inputs, batch.targets, batch.mask)
                    if diverged(loss, uniform_loss):
                        bad_step = p.step + 1
                        if config.on_nan != "rollback" or rollbacks >= MAX_ROLLBACKS:
                            raise ElmanError(
                                f"the training loss became {loss:.4g} at step {bad_step}, so the "
                                f"weights were not updated{uniform_note(loss, uniform_loss)}; "
                                f"lower --lr (now {optimizer.lr:g})"
                                + (" or --clip." if config.clip else " or set --clip, e.g. 1.")
                            )
                        # Back to the last saved state (within this epoch: one is saved at
                        # every epoch's end), to go on more carefully from there.
                        rollbacks += 1
                        best_params, saved, average = load_resume(
                            out / RESUME_FILE, model, optimizer
                        )
                        p = Progress(**{**saved, "seconds": p.seconds})  # time still runs
                        optimizer.lr /= config.lr_decay if config.lr_decay > 1 else 2.0
                        log(
                            {
                                "event": "rollback",
                                "step": bad_step,
                                "to_step": p.step,
                                "lr": optimizer.lr,
                            }
                        )
                        tqdm.write(
                            f"loss {loss:.4g} at step {bad_step}: back to step {p.step} "
                            f"with lr {optimizer.lr:g}"
                        )
                        bar.n = p.batch
                        continue
                    # Truncated BPTT: the state carries into the next chunk (in each
                    # layer), but backward stops at this chunk's first step.
                    model.backward()
                    grad_norm = optimizer.step(model.flat_grads, clip=config.clip)
                    p.step += 1
                    if config.average_after and p.epoch > config.average_after:
                        average = _update_average(average, model.flat_params, p, scratch)
                    p.batch += 1

                    p.epoch_loss += model.loss_layer.total
                    p.epoch_tokens += model.loss_layer.count
                    speed = (p.epoch_tokens - epoch_tokens_before) / (
                        time.perf_counter() - epoch_start
                    )
                    mean_loss = p.epoch_loss / p.epoch_tokens
                    bar.update()
                    bar.set_postfix(
                        loss=f"{mean_loss:.3f}",
                        ppl=f"{perplexity(mean_loss):.1f}",
                        tok_s=f"{speed:,.0f}",
                        refresh=False,
                    )
                    if p.step % config.log_every == 0:
                        log(
                            {
                                "event": "step",
                                "epoch": p.epoch,
                                "step": p.step,
                                "loss": loss,
                                "grad_norm": grad_norm,
                                "lr": optimizer.lr,
                                "tokens_per_s": speed,
                            }
                        )
                    if interrupted:
                        save_state()
                        raise TrainingInterrupted(
                            f"training stopped by {interrupted[0]} at step {p.step} (epoch "
                            f"{p.epoch}); its state is saved in {out}, continue with: "
                            f"elman train --resume {out}"
                        )
                    if config.save_every and p.step % config.save_every == 0:
                        save_state()
                        rollbacks = 0
                    elapsed = p.seconds + time.perf_counter() - start
                    if (config.max_steps and p.step >= config.max_steps) or (
                        config.max_minutes and elapsed >= 60 * config.max_minutes
                    ):
                        stop = True
                        break
            if config.epochs and p.epoch >= config.epochs:
                stop = True
            # Validated, kept and saved: the average of the weights once it exists.
            with _weights(model, average):
                finished = p.batch >= len(batches)
                record = _end_epoch(
                    model, optimizer, tokenizer, valid_ids, config, p, best_params, finished
                )
                record["averaged_steps"] = p.averaged_steps
                record["seconds"] = p.seconds + time.perf_counter() - start
                record["tokens_per_s"] = (p.epoch_tokens - epoch_tokens_before) / (
                    time.perf_counter() - epoch_start
                )
                record["saved"] = record["saved"] and out is not None
                if record["saved"]:
                    checkpoint.save(
                        out,
                        model,
                        tokenizer,
                        config,
                        info={k: v for k, v in record.items() if k not in ("event", "saved")},
                    )
            p.history.append(record)
            log(record)
            if progress:
                tqdm.write(_describe(record, optimizer.lr))
            if not stop:  # the next epoch starts from its first batch
                p.epoch, p.batch, p.epoch_loss, p.epoch_tokens = p.epoch + 1, 0, 0.0, 0
            save_state()
    model.flat_params[...] = best_params
    model.training = False
    return p.history


def training_ids(
    tokenizer: CharTokenizer | WordTokenizer,
    train_text: str,
    valid_text: str | None,
    config: TrainConfig,
) -> tuple[np.ndarray, np.ndarray | None]:
    """The training and validation texts as ids, refusing a setup that cannot train."""
    require_an_end(config)
    train_ids = tokenizer.encode(train_text)
    if len(train_ids) - 1 < config.batch:
        raise ElmanError(
            f"the training text has {len(train_ids)} tokens, too few for --batch "
            f"{config.batch} streams; use a smaller --batch or a longer text."
        )
    valid_ids = tokenizer.encode(valid_text) if valid_text is not None else None
    if valid_ids is not None and len(valid_ids) < 2:
        raise ElmanError("the validation text has fewer than two tokens; give a longer one.")
    return train_ids, valid_ids


def require_an_end(config: TrainConfig) -> None:
    """Refuse settings under which training would never stop."""
    if config.epochs == 0 and config.max_steps == 0 and config.max_minutes == 0:
        raise ElmanError("training would never stop; give --epochs, --max-steps or --max-minutes.")


def limit_reached(config: TrainConfig, p: Progress) -> str | None:
    """What limit a run standing at ``p`` has reached, in words (None: it may go on).
    ``p`` is where the next step would be: after a finished epoch, the next epoch."""
    if config.epochs and p.epoch > config.epochs:
        return f"finished its {config.epochs} epoch" + ("" if config.epochs == 1 else "s")
    if config.max_steps and p.step >= config.max_steps:
        return f"made {p.step} steps (--max-steps {config.max_steps})"
    if config.max_minutes and p.seconds >= 60 * config.max_minutes:
        return f"trained {p.seconds / 60:.1f} minutes (--max-minutes {config.max_minutes:g})"
    return None


def _update_average(
    average: np.ndarray | None, params: np.ndarray, p: Progress, scratch: np.ndarray | None
) -> np.ndarray:
    """The running mean of the weights after each step: a_n = a_{n-1} + (w_n - a_{n-1}) / n.

    ``scratch`` (the size of ``params``) holds the difference: a fresh array of that
    size at every step costs more than the arithmetic (6.3 against 2.5 ms for ptb-rnn's
    5.3 million weights)."""
    p.averaged_steps += 1
    if average is None:
        return params.copy()
    difference = np.subtract(params, average, out=scratch)
    difference /= p.averaged_steps
    average += difference
    return average


@contextmanager
def _weights(model: LanguageModel, weights: np.ndarray | None) -> Iterator[None]:
    """Put ``weights`` (if any) in the model for a while; training goes on from its own."""
    if weights is None:
        yield
        return
    trained = model.flat_params.copy()
    model.flat_params[...] = weights
    try:
        yield
    finally:
        model.flat_params[...] = trained


def _forget_metrics_after(path: Path, step: int) -> None:
    """Drop the records of steps after ``step``: the resumed run makes them again."""
    if not path.is_file():
        return
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [line for line in lines if json.loads(line).get("step", 0) <= step]
    checkpoint.atomic_write(path, lambda tmp: Path(tmp).write_text("".join(kept), encoding="utf-8"))


def _end_epoch(
    model: LanguageModel,
    optimizer: Any,
    tokenizer: CharTokenizer | WordTokenizer,
    valid_ids: Any,
    config: TrainConfig,
    p: Progress,
    best_params: Any,
    finished: bool,
) -> dict[str, Any]:
    """Validate, keep the best weights, decay the learning rate; the epoch's record.

    An epoch cut short by a step or time limit (``finished`` false) is validated and
    its best weights kept, but the rate stays: the epoch may resume, and it decays
    once, when it ends."""
    train_loss = p.epoch_loss / max(p.epoch_tokens, 1)
    record: dict[str, Any] = {
        "event": "epoch",
        "epoch": p.epoch,
        "step": p.step,
        "train_loss": train_loss,
        "train_ppl": perplexity(train_loss),
        "lr": optimizer.lr,
    }
    improved, plateau = True, False  # without validation text: the latest weights, no decay
    if valid_ids is not None:
        carried = model.state  # evaluation resets it; a run stopped mid-epoch may resume
        valid = evaluate_ids(model, valid_ids, config.eval_batch, config.bptt, tokenizer.eos_id)
        model.state = carried
        record.update(valid_loss=valid.loss, valid_ppl=valid.perplexity, valid_tokens=valid.tokens)
        improved = valid.perplexity < p.best
        p.best = min(p.best, valid.perplexity)
        if finished:  # a run cut short compares its epochs' ends as an unbroken run would
            plateau = valid.perplexity >= p.best_at_epoch_end
            p.best_at_epoch_end = min(p.best_at_epoch_end, valid.perplexity)
    if not finished:
        record["partial"] = True
    scheduled = config.decay_after and p.epoch >= config.decay_after
    if finished and config.lr_decay > 1 and (scheduled or plateau):
        optimizer.lr /= config.lr_decay
    if improved:
        best_params[...] = model.flat_params
    record["saved"] = improved
    return record


def _describe(record: dict[str, Any], lr_now: float) -> str:
    valid = f", valid ppl {record['valid_ppl']:.2f}" if "valid_ppl" in record else ""
    saved = " (saved)" if record["saved"] else ""
    decayed = f", now {lr_now:g}" if lr_now != record["lr"] else ""
    part = ", stopped part-way" if record.get("partial") else ""
    return (
        f"epoch {record['epoch']}{part}: train ppl {record['train_ppl']:.2f}{valid}{saved}, "
        f"lr {record['lr']:g}{decayed}"
    )


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
