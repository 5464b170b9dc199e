"""The language model as the training loop sees it, and ``train``, its Python entry point.

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
from elman.data.tokenizers import Tokenizer
from elman.errors import ElmanError
from elman.lm import checkpoint
from elman.lm.conditioned import ConditionedLanguageModel
from elman.lm.evaluate import evaluate_ids
from elman.lm.model import LanguageModel, StateOverflow
from elman.metrics import perplexity
from elman.training import Trainer, require_an_end


def training_ids(
    tokenizer: Tokenizer, train_text: str, valid_text: str | None, config: TrainConfig
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


class LanguageModelTask:
    """Batches of B streams (or of lines, with the state reset at each line end),
    validation perplexity (lower is better), the carried state, the checkpoint.

    A conditioned model (``ConditionedLanguageModel``) gets ``conditions``: for the
    training and the validation text, one condition per line (label ids or vectors).
    Its lines are read whole, each from its condition, so a batch is a group of lines
    however long they are."""

    command = "train"
    unit = "tokens"

    def __init__(
        self,
        model: LanguageModel | ConditionedLanguageModel,
        tokenizer: Tokenizer,
        train_ids: np.ndarray,
        valid_ids: np.ndarray | None,
        config: TrainConfig,
        data: dict[str, Any] | None = None,
        conditions: tuple[np.ndarray, np.ndarray | None] | None = None,
    ) -> None:
        self.model, self.tokenizer, self.config = model, tokenizer, config
        self.valid_ids, self.data = valid_ids, data
        self.train_conditions, self.valid_conditions = conditions or (None, None)
        bptt = config.bptt if conditions is None else len(train_ids)  # conditioned: whole lines
        self.batches = make_batches(
            train_ids, model.config.state, tokenizer.eos_id, config.batch, bptt,
            config.restart_every,
        )  # fmt: skip
        self.uniform_loss = math.log(model.config.vocab_size)

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
            )
        except StateOverflow:  # training diverged: the loop stops or rolls back
            return {"loss": math.nan, "ppl": math.nan, "tokens": 0}
        return {"loss": valid.loss, "ppl": valid.perplexity, "tokens": valid.tokens}

    def score(self, figures: dict[str, float]) -> tuple[float, ...]:
        return (-figures["ppl"],)

    def train_figures(self, mean_loss: float) -> dict[str, float]:
        return {"train_ppl": perplexity(mean_loss)}

    def describe(self, record: dict[str, Any]) -> str:
        valid = f", valid ppl {record['valid_ppl']:.2f}" if "valid_ppl" in record else ""
        return f"train ppl {record['train_ppl']:.2f}{valid}"

    def save(self, out: Path, info: dict[str, Any]) -> None:
        checkpoint.save(out, self.model, self.tokenizer, self.config, info=info, data=self.data)

    def carried_state(self) -> list:
        return [] if self.train_conditions is not None else self.model.state

    def restore_carried_state(self, state: list) -> None:
        if self.train_conditions is None:
            self.model.state = state


def train(
    model: LanguageModel,
    tokenizer: Tokenizer,
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
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
    task = LanguageModelTask(model, tokenizer, train_ids, valid_ids, config)
    return Trainer(task, config, out_dir, progress, resume, catch_signals).run()
