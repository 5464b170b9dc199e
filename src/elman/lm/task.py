"""The language model as the training loop sees it (``elman.lm.kind.train`` is its
Python entry point).

Truncated BPTT: the corpus is cut into streams read ``bptt`` steps at a time
(``elman.data.batching``); the recurrent state is carried from one chunk to the
next inside the layers, reset where a batch says so, while backward stops at the
chunk's first step.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from elman.config import TrainConfig
from elman.data.batching import Batch, LineBatches, make_batches
from elman.data.tokenizers import TextCounts, Tokenizer
from elman.errors import ElmanError
from elman.lm import checkpoint
from elman.lm.evaluate import evaluate_ids
from elman.lm.model import GROWN_BIAS, StateOverflow
from elman.metrics import perplexity
from elman.training import require_an_end


def training_ids(
    tokenizer: Tokenizer, train_text: str, valid_text: str | None, config: TrainConfig
) -> tuple[np.ndarray, np.ndarray | None]:
    """The training and validation texts as ids, refusing a setup that cannot train."""
    train_ids = tokenizer.encode(train_text)
    valid_ids = tokenizer.encode(valid_text) if valid_text is not None else None
    check_ids(train_ids, valid_ids, config)
    return train_ids, valid_ids


def check_ids(train_ids: np.ndarray, valid_ids: np.ndarray | None, config: TrainConfig) -> None:
    """Refuse a setup that cannot train: too few training tokens for the batch's streams,
    a validation text too short to score."""
    require_an_end(config)
    if len(train_ids) - 1 < config.batch:
        raise ElmanError(
            f"the training text has {len(train_ids)} tokens, too few for --batch "
            f"{config.batch} streams; use a smaller --batch or a longer text."
        )
    if valid_ids is not None and len(valid_ids) < 2:
        raise ElmanError("the validation text has fewer than two tokens; give a longer one.")


class LanguageModelTask:
    """Batches of B streams (or of lines, with the state reset at each line end) of
    ``bptt`` tokens (``LanguageModelTrainConfig``), validation perplexity (lower is better)
    and, given what the validation ids write (``valid_text``, their ``TextCounts``), its
    bits per character and byte; the carried state, the checkpoint ``ckpt`` (whose model,
    tokenizer and training settings it trains with). The ids may be a memory map (a
    prepared corpus): the batches read them a chunk at a time.

    A conditioned model (``ConditionedLanguageModel``) gets ``conditions``: for the
    training and the validation text, one condition per line (label ids or vectors).
    Its lines are read whole, each from its condition, so a batch is a group of lines
    however long they are."""

    command = "train"
    unit = "tokens"

    def __init__(
        self,
        ckpt: checkpoint.Checkpoint,
        train_ids: np.ndarray,
        valid_ids: np.ndarray | None,
        conditions: tuple[np.ndarray, np.ndarray | None] | None = None,
        valid_text: TextCounts | None = None,
    ) -> None:
        self.ckpt, self.model, self.tokenizer = ckpt, ckpt.model, ckpt.tokenizer
        self.config = config = ckpt.train_config
        self.valid_ids, self.valid_text = valid_ids, valid_text
        self.train_conditions, self.valid_conditions = conditions or (None, None)
        # A conditioned model reads whole lines, each from its condition.
        bptt = config.bptt if conditions is None else len(train_ids)
        self.batches = make_batches(
            train_ids, self.model.config.state, self.tokenizer.eos_id, config.batch, bptt,
            config.restart_every,
        )  # fmt: skip
        # What the divergence rule compares a loss with (training.diverged): a uniform
        # guess's, and for a model whose vocabulary grew, that and the new tokens' start
        # (GROWN_BIAS below the old ones: a text of new tokens starts some 30 nats up).
        grown = bool(getattr(self.model.config, "grown_from", ""))
        self.uniform_loss = math.log(self.model.config.vocab_size) - grown * GROWN_BIAS

    def epoch_batches(self, rng: np.random.Generator) -> Sequence[Batch]:
        if isinstance(self.batches, LineBatches):  # groups of lines, in a new order each epoch
            return self.batches.shuffled(rng)
        return self.batches  # the streams are read in order, every epoch alike

    def forward(self, batch: Batch) -> tuple[float, float, float]:
        if self.train_conditions is not None:
            condition = self.train_conditions[batch.lines]
            loss = self.model.forward(batch.inputs, batch.targets, batch.mask, condition)
        else:
            if batch.reset:  # a new epoch (carry) or a new group of lines (reset)
                self.model.reset_state()
            elif batch.restart is not None:  # some streams start cold (--restart-every)
                self.model.reset_state(batch.restart)
            loss = self.model.forward(batch.inputs, batch.targets, batch.mask)
        return loss, self.model.loss_sum, self.model.loss_count

    def work(self, batch: Batch) -> float:
        return batch.inputs.size  # (B, T), padding included

    def validate(self) -> dict[str, float] | None:
        if self.valid_ids is None:
            return None
        config = self.config
        try:
            valid = evaluate_ids(
                self.model,
                self.valid_ids,
                config.eval_batch,
                config.bptt,
                self.tokenizer.eos_id,
                self.valid_conditions,
                config.threads,
                self.valid_text,
            )
        except StateOverflow:  # training diverged: the loop stops or rolls back
            return {"loss": math.nan, "ppl": math.nan, "tokens": 0}
        figures = {"loss": valid.loss, "ppl": valid.perplexity, "tokens": valid.tokens}
        if self.valid_text is not None:
            figures.update(
                bits_per_char=valid.bits_per_char,
                bits_per_byte=valid.bits_per_byte,
                chars=valid.chars,
                bytes=valid.bytes,
                unknown=valid.unknown,
            )
        return figures

    def rehearse(self) -> None:
        """Validation's first chunks: as much at once as the whole of it takes."""
        if self.valid_ids is None:
            return
        config, held_out, text = self.config, self.valid_ids, self.valid_text
        self.valid_text = None  # the figures per character are not needed here
        self.valid_ids = held_out[: 2 * config.eval_batch * config.bptt + 1]
        conditions = self.valid_conditions
        if conditions is not None:  # whole lines, each with its condition
            lines = int(np.sum(self.valid_ids == self.tokenizer.eos_id))
            self.valid_conditions = conditions[: max(lines, 1)]
            self.valid_ids = held_out[: _end_of_line(held_out, self.tokenizer.eos_id, lines)]
        try:
            self.validate()
        finally:
            self.valid_ids, self.valid_conditions, self.valid_text = held_out, conditions, text

    def score(self, figures: dict[str, float]) -> tuple[float, ...]:
        return (-figures["ppl"],)

    def train_figures(self, mean_loss: float) -> dict[str, float]:
        return {"train_ppl": perplexity(mean_loss)}

    def describe(self, record: dict[str, Any]) -> str:
        valid = f", valid ppl {record['valid_ppl']:.2f}" if "valid_ppl" in record else ""
        if record.get("valid_bits_per_char") is not None:
            valid += f" ({record['valid_bits_per_char']:.4f} bits/char)"
        return f"train ppl {record['train_ppl']:.2f}{valid}"

    def save(self, out: Path, info: dict[str, Any]) -> None:
        self.ckpt.info = info
        checkpoint.save_checkpoint(out, self.ckpt)

    def carried_state(self) -> list:
        return [] if self.train_conditions is not None else self.model.state

    def restore_carried_state(self, state: list) -> None:
        if self.train_conditions is None:
            self.model.state = state


def _end_of_line(ids: np.ndarray, eos_id: int | None, lines: int) -> int:
    """Where the first ``lines`` lines of ``ids`` end (at least one line)."""
    ends = np.flatnonzero(ids == eos_id) + 1
    return int(ends[max(lines, 1) - 1]) if len(ends) else len(ids)
