"""Perplexity on held-out text: every token after the first is predicted exactly once."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from elman.blas import BlasThreads
from elman.data.batching import Batch, LineBatches, StreamBatches, make_batches
from elman.data.tokenizers import Tokenizer
from elman.errors import ElmanError
from elman.lm.model import LanguageModel, first_overflow, state_overflow
from elman.metrics import perplexity as perplexity_of


@dataclass(frozen=True)
class Evaluation:
    """Cross-entropy over ``tokens`` predicted tokens, and what follows from it."""

    loss: float  # mean cross-entropy, nats per token
    tokens: int  # tokens scored
    unknown: int = 0  # tokens of the text missing from the vocabulary, scored as <unk>

    @property
    def perplexity(self) -> float:
        """exp(mean cross-entropy per token); inf if that overflows."""
        return perplexity_of(self.loss)

    @property
    def bits_per_token(self) -> float:
        return self.loss / math.log(2)

    def as_dict(self) -> dict[str, float | int]:
        return {
            "perplexity": self.perplexity,
            "loss": self.loss,
            "bits_per_token": self.bits_per_token,
            "tokens": self.tokens,
            "unknown": self.unknown,
        }


def evaluate_ids(
    model: LanguageModel,
    ids: np.ndarray,
    batch: int = 10,
    bptt: int = 64,
    eos_id: int | None = None,
    conditions: np.ndarray | None = None,
    threads: int = 0,
) -> Evaluation:
    """Mean cross-entropy of predicting each token from what precedes it, without dropout.

    With the state carried across lines (``model.config.state == "carry"``), the
    ids are cut into ``batch`` streams read ``bptt`` steps at a time, so each stream
    is one long context and ids[1:] are scored. With the state reset at each line
    end (``eos_id``), every line is scored from a zero state after a line start,
    and so is every token. Padding is masked either way. A conditioned model reads
    each line from its own condition, ``conditions[line]`` (label ids or vectors, one
    per line of the text). ``threads``: BLAS threads, as ``--threads`` (``elman.blas``).
    """
    if len(ids) < 2:
        raise ElmanError("the text is too short to evaluate: it needs at least two tokens.")
    batches = make_batches(ids, model.config.state, eos_id, min(batch, len(ids) - 1), bptt)
    total, count, state, column = 0.0, 0, None, 0
    # A state that overflows is found in the loss and said in words (state_overflow), not
    # in numpy's warnings on the way there.
    with (
        BlasThreads.for_arrays(model.arrays, threads) as blas,
        np.errstate(over="ignore", invalid="ignore"),
    ):
        for b in batches:
            # The state is held here, not in the model: evaluation is pure.
            if b.reset:
                condition = None if conditions is None else conditions[b.lines]
                state, column = model.prepare(len(b.inputs), condition), 0
            blas.start()
            chunk_total, chunk_count, after = model.nll(b.inputs, b.targets, b.mask, state)
            blas.stop(b.inputs.size)
            if not math.isfinite(chunk_total):
                raise state_overflow(_overflow_place(model, batches, b, state, column))
            total += chunk_total
            count += chunk_count
            state, column = after, column + b.inputs.shape[1]
    return Evaluation(loss=total / count, tokens=count)


def _overflow_place(
    model: LanguageModel, batches: StreamBatches | LineBatches, b: Batch, state: Any, column: int
) -> str:
    """Where in the text the state overflowed in chunk ``b`` (read from ``state``, its
    first step at ``column`` of its streams or lines): the first token whose logits are
    NaN or infinite, as a position in the text or in a line."""
    logits, _ = model.logits(b.inputs, state)
    found = first_overflow(logits, b.mask)
    if found is None:  # the loss, not the logits, overflowed
        return "in the text"
    row, t = found
    if b.lines is not None:  # one line per row
        return f"at token {column + t + 1:,} of line {int(b.lines[row]) + 1:,} of the text"
    return f"at token {row * batches.stream_length + column + t + 1:,} of the text"


def evaluate(
    model: LanguageModel,
    tokenizer: Tokenizer,
    text: str,
    batch: int = 10,
    bptt: int = 64,
    conditions: np.ndarray | None = None,
    threads: int = 0,
) -> Evaluation:
    """Perplexity, cross-entropy and token counts of ``model`` on ``text`` (each line
    given its condition, for a conditioned model), with ``threads`` BLAS threads (0: by
    timing).

    Tokens the vocabulary lacks are scored as <unk> and counted in ``unknown``.
    """
    unknown = sum(tokenizer.unknown_tokens(text).values())
    ids = tokenizer.encode(text)
    result = evaluate_ids(model, ids, batch, bptt, tokenizer.eos_id, conditions, threads)
    return Evaluation(result.loss, result.tokens, unknown)


def perplexity(model: LanguageModel, tokenizer: Tokenizer, text: str) -> float:
    """exp(mean cross-entropy per token) of ``model`` on ``text``."""
    return evaluate(model, tokenizer, text).perplexity
