"""Perplexity and bits per character on held-out text: every token after the first is
predicted exactly once (every token, with the state reset at each line end).

Per-token perplexity depends on what a token is: a word model predicts fewer, harder
tokens than a character model of the same text, so their perplexities cannot be
compared. Bits per character can: the same negative log-likelihood, in bits, divided by
the NFC characters the scored tokens write (``Tokenizer.encode_text``; a line end counts
as one), and bits per UTF-8 byte likewise. A token outside the vocabulary is scored as
<unk>, which spares the model predicting which word it was, so a figure with ``unknown``
above 0 flatters the model and is not comparable (docs/evaluation.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from elman.blas import BlasThreads
from elman.data.batching import Batch, LineBatches, StreamBatches, make_batches
from elman.data.tokenizers import TextCounts, Tokenizer, ids_dtype
from elman.errors import ElmanError
from elman.lm.model import LanguageModel, first_overflow, state_overflow
from elman.metrics import perplexity as perplexity_of


@dataclass(frozen=True)
class Evaluation:
    """Cross-entropy over ``tokens`` predicted tokens, and what follows from it."""

    loss: float  # mean cross-entropy, nats per token
    tokens: int  # tokens scored
    unknown: int = 0  # tokens of the text missing from the vocabulary, scored as <unk>
    chars: int = 0  # NFC characters the scored tokens write (0: not measured)
    bytes: int = 0  # their UTF-8 bytes

    @property
    def perplexity(self) -> float:
        """exp(mean cross-entropy per token); inf if that overflows."""
        return perplexity_of(self.loss)

    @property
    def bits_per_token(self) -> float:
        return self.loss / math.log(2)

    @property
    def bits_per_char(self) -> float:
        """The summed cross-entropy in bits over the characters it covers (NaN: none)."""
        return self.loss * self.tokens / math.log(2) / self.chars if self.chars else math.nan

    @property
    def bits_per_byte(self) -> float:
        """The summed cross-entropy in bits over the UTF-8 bytes it covers (NaN: none)."""
        return self.loss * self.tokens / math.log(2) / self.bytes if self.bytes else math.nan

    def report(self) -> list[str]:
        """The figures as lines of text (``elman eval``), with a note when <unk> tokens
        make them flatter the model."""
        lines = [
            f"perplexity     {self.perplexity:.3f} per token",
            f"bits per char  {self.bits_per_char:.4f} over {self.chars:,} characters, "
            f"{self.bits_per_byte:.4f} bits per UTF-8 byte over {self.bytes:,}",
            f"cross-entropy  {self.loss:.4f} nats/token, {self.bits_per_token:.4f} bits/token",
            f"tokens scored  {self.tokens:,} ({self.unknown:,} not in the vocabulary, scored "
            "as <unk>)",
        ]
        if self.unknown:
            lines.append(
                "note: with tokens scored as <unk> the model is spared predicting what they "
                "were, so these figures flatter it and are not comparable with another model's"
            )
        return lines

    def as_dict(self) -> dict[str, float | int]:
        return {
            "perplexity": self.perplexity,
            "loss": self.loss,
            "bits_per_token": self.bits_per_token,
            "bits_per_char": self.bits_per_char,
            "bits_per_byte": self.bits_per_byte,
            "tokens": self.tokens,
            "chars": self.chars,
            "bytes": self.bytes,
            "unknown": self.unknown,
        }


def covered(batches: StreamBatches | LineBatches, text: TextCounts) -> tuple[int, int]:
    """The characters and bytes the tokens ``batches`` score write: every token after
    the first of the text for streams (the first is read, never predicted), every token
    for lines read from a line start."""
    return text.scored(batches.unscored)


def evaluate_ids(
    model: LanguageModel,
    ids: np.ndarray,
    batch: int = 10,
    bptt: int = 64,
    eos_id: int | None = None,
    conditions: np.ndarray | None = None,
    threads: int = 0,
    text: TextCounts | None = None,
) -> Evaluation:
    """Mean cross-entropy of predicting each token from what precedes it, without dropout.

    With the state carried across lines (``model.config.state == "carry"``), the
    ids are cut into ``batch`` streams read ``bptt`` steps at a time, so each stream
    is one long context and ids[1:] are scored. With the state reset at each line
    end (``eos_id``), every line is scored from a zero state after a line start,
    and so is every token. Padding is masked either way. A conditioned model reads
    each line from its own condition, ``conditions[line]`` (label ids or vectors, one
    per line of the text). ``threads``: BLAS threads, as ``--threads`` (``elman.blas``).
    ``text``, what the ids write (``TextCounts``: ``EncodedText.counts``, or a prepared
    corpus's header), gives the characters and bytes scored and the tokens outside the
    vocabulary. The ids may be a memory map (a prepared corpus), read a chunk at a time.
    """
    if text is not None and text.tokens != len(ids):
        raise ValueError(f"text has {text.tokens} ids, expected {len(ids)} like ids")
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
    if text is None:
        return Evaluation(loss=total / count, tokens=count)
    chars, nbytes = covered(batches, text)
    return Evaluation(total / count, count, text.unknown, chars, nbytes)


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
    """Perplexity, cross-entropy, bits per character and byte, and token counts of
    ``model`` on ``text`` (each line given its condition, for a conditioned model), with
    ``threads`` BLAS threads (0: by timing).

    Tokens the vocabulary lacks are scored as <unk> and counted in ``unknown``.
    """
    ids, counts = tokenizer.encode_counted(text, ids_dtype(len(tokenizer)))
    eos_id = tokenizer.eos_id
    return evaluate_ids(model, ids, batch, bptt, eos_id, conditions, threads, counts)


def perplexity(model: LanguageModel, tokenizer: Tokenizer, text: str) -> float:
    """exp(mean cross-entropy per token) of ``model`` on ``text``."""
    return evaluate(model, tokenizer, text).perplexity
