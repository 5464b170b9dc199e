"""Sampling text from a language model, and scoring lines of text with it.

Both read the model through its pure methods (``step``, ``logits``) with the
recurrent state held here, never in the layers: one loaded model can generate and
score for several callers at once, each with its own state and random stream.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from elman.blas import BlasThreads
from elman.data.tokenizers import EncodedText, Tokenizer
from elman.errors import ElmanError
from elman.lm.model import LanguageModel, first_overflow, state_overflow
from elman.metrics import perplexity
from elman.nn import log_softmax
from elman.sampling import check_sampling, sample_next, sample_rows

# The most tokens one call generates: about 10 MB of text, and at a few thousand tokens
# a second an hour's work; a length typed with a few zeros too many (1e11) would run
# until killed.
MAX_LENGTH = 10_000_000


def line_start(tokenizer: Tokenizer) -> int:
    """The token every text is read after: a line end (<eos> or "\\n"), the context a model
    trained on lines has seen before a line's first token (<unk> if it has no line end)."""
    return tokenizer.eos_id if tokenizer.eos_id is not None else tokenizer.unk_id


class UnknownPrompt(ElmanError):
    """A prompt with tokens the vocabulary lacks; ``tokens`` are they, in order."""

    def __init__(self, message: str, tokens: list[str]) -> None:
        super().__init__(message)
        self.tokens = tokens


def encode_prompt(tokenizer: Tokenizer, prompt: str) -> list[int]:
    """The prompt's token ids, refusing tokens the vocabulary lacks (``UnknownPrompt``),
    and saying so when capitals are what it lacks. A prompt whose last line has no line
    end is an unfinished line, so no line end is added to it."""
    unknown = list(tokenizer.unknown_tokens(prompt))
    if unknown:
        shown = ", ".join(repr(t) for t in unknown[:10])
        lowered = [t for t in unknown if t.lower() != t and t.lower() in tokenizer]
        fix = (
            f"the vocabulary is lower case ({lowered[0]!r} is there as {lowered[0].lower()!r}), "
            "so write the prompt in lower case"
            if lowered
            else "rephrase the prompt with tokens from the training text"
        )
        raise UnknownPrompt(
            f"the prompt has {len(unknown)} token(s) the model's vocabulary lacks ({shown}); "
            f"{fix}.",
            unknown,
        )
    return [int(i) for i in tokenizer.encode_unfinished(prompt)]


def stream(
    model: LanguageModel,
    tokenizer: Tokenizer,
    prompt: str = "",
    length: int = 200,
    temperature: float = 1.0,
    top_k: int = 0,
    seed: int = 0,
    top_p: float = 1.0,
    condition: np.ndarray | None = None,
    stop_at_line_end: bool = False,
) -> Iterator[str]:
    """Yield generated text piece by piece, as each token is sampled.

    1. Encode the prompt, preceded by a line start.
    2. Feed it through the network one token at a time to warm the hidden state, which
       starts from ``condition`` for a conditioned model (a label id or a vector, (1,) or
       (1, C)).
    3. Sample the next token from the last output (``elman.sampling``: temperature,
       top-k, top-p), feed it back, and repeat ``length`` times, or with
       ``stop_at_line_end`` until a line end is sampled (not yielded). The same seed gives
       the same text.

    Each piece is the text the sampled token adds (``Tokenizer.text_stream``); a token
    that ends inside a character (a subword model's byte pieces) adds nothing until the
    character is whole, so no piece is ever part of a character.

    The arguments and the prompt are checked here, when ``stream`` is called, not
    when the first piece is asked for: a caller that prints the prompt before the
    pieces then prints nothing for a bad prompt.
    """
    if not 0 <= length <= MAX_LENGTH:
        raise ElmanError(
            f"--length must be between 0 and {MAX_LENGTH:,} tokens, got {length:,}; for more, "
            "generate in pieces, each prompted with the end of the last."
        )
    check_sampling(temperature, top_k, top_p)
    if seed < 0:
        raise ElmanError(f"--seed must be zero or positive, got {seed}.")
    context = [line_start(tokenizer), *encode_prompt(tokenizer, prompt)]
    state = model.prepare(1, condition)
    sampling = (temperature, top_k, top_p, seed, stop_at_line_end)
    return _sample(model, tokenizer, context, length, state, sampling)


def _sample(
    model: LanguageModel,
    tokenizer: Tokenizer,
    context: list[int],
    length: int,
    state: Any,
    sampling: tuple[float, int, float, int, bool],
) -> Iterator[str]:
    # A generator apart from ``stream``, whose checks would otherwise wait for next().
    temperature, top_k, top_p, seed, stop_at_line_end = sampling
    rng = np.random.default_rng(seed)
    blas = BlasThreads.for_arrays(model.arrays)  # one BLAS thread or all, by timing the steps

    def step(token: int, state: Any, where: str) -> tuple[np.ndarray, Any]:
        blas.start()
        # A state that overflows is found in the logits and said in words
        # (state_overflow), not in numpy's warnings on the way there. (Per step: a
        # generator may be resumed in another thread, where a context entered in the
        # first cannot be left.)
        with np.errstate(over="ignore", invalid="ignore"):
            logits, state = model.step(np.array([token]), state)  # (1, V)
        blas.stop()
        if first_overflow(logits[:, None]) is not None:  # there is nothing to sample from
            raise state_overflow(where)
        return logits, state

    with blas:
        for n, token in enumerate(context):
            logits, state = step(token, state, f"at token {n:,} of the prompt")
        text = tokenizer.text_stream(context[-1])
        for n in range(1, length + 1):
            if not tokenizer.sample_unknown:
                logits[0, tokenizer.unk_id] = -np.inf
            token = sample_next(logits[0], temperature, top_k, rng, top_p)
            if stop_at_line_end and token == tokenizer.eos_id:
                break
            piece = text.add(token)
            if piece:  # nothing while a character is incomplete (byte pieces)
                yield piece
            logits, state = step(token, state, f"at token {n:,} of the generated text")
        rest = text.end()
        if rest:
            yield rest


def generate(
    model: LanguageModel,
    tokenizer: Tokenizer,
    prompt: str = "",
    length: int = 200,
    *sampling: Any,
    **named: Any,
) -> str:
    """The prompt followed by ``length`` sampled tokens; the other arguments, in order or
    by name, are ``stream``'s: temperature, top_k, seed, top_p, condition and
    stop_at_line_end."""
    return prompt + "".join(stream(model, tokenizer, prompt, length, *sampling, **named))


def samples(
    model: LanguageModel,
    tokenizer: Tokenizer,
    count: int,
    prompt: str = "",
    length: int = 200,
    temperature: float = 1.0,
    top_k: int = 0,
    seed: int = 0,
    top_p: float = 1.0,
    condition: np.ndarray | None = None,
) -> Iterator[str]:
    """Yield ``count`` samples, each the prompt followed by the tokens sampled up to a line
    end (not included) or ``length`` tokens, in order, each as soon as it and those before
    it are finished.

    Sample k is drawn as ``generate(..., seed=seed + k, stop_at_line_end=True)`` draws it,
    from a generator of its own seeded seed + k, but all of them at once: the network reads
    the ``count`` streams as one batch, one step for all per token, instead of ``count``
    runs of a batch of one (at batch 1 a step is mostly numpy's cost per call, so a batch
    of 32 costs little more than one row). A row of a batched product can differ from the
    single row's in the last bits, so a draw that falls within float32 rounding of the
    boundary between two tokens can differ from the sequential sample's, and the sample
    goes on differently from there: rare (``tests/lm/test_generate.py`` counts it).
    Finished streams leave the batch.
    """
    if count < 1:
        raise ElmanError(f"--count must be a positive integer, got {count}.")
    if length < 0:
        raise ElmanError(f"--length must be zero or positive, got {length}.")
    check_sampling(temperature, top_k, top_p)
    if seed < 0:
        raise ElmanError(f"--seed must be zero or positive, got {seed}.")
    context = [line_start(tokenizer), *encode_prompt(tokenizer, prompt)]
    rows = None if condition is None else np.repeat(condition, count, axis=0)
    state = model.prepare(count, rows)
    return _sample_batch(model, tokenizer, prompt, context, count, length, state,
                         (temperature, top_k, top_p, seed))  # fmt: skip


def _sample_batch(
    model: LanguageModel,
    tokenizer: Tokenizer,
    prompt: str,
    context: list[int],
    count: int,
    length: int,
    state: Any,
    sampling: tuple[float, int, float, int],
) -> Iterator[str]:
    # A generator apart from ``samples``, whose checks would otherwise wait for next().
    temperature, top_k, top_p, seed = sampling
    rngs = [np.random.default_rng(seed + k) for k in range(count)]
    drawn_ids: list[list[int]] = [[] for _ in range(count)]  # each sample's tokens
    finished = np.zeros(count, dtype=bool)
    shown = 0  # samples yielded so far, in order
    going = np.arange(count)  # the sample each row of the batch draws; finished ones leave
    blas = BlasThreads.for_arrays(model.arrays)

    def text_after(ids: list[int]) -> str:
        """What ``ids`` add after the context: decoding is prefix-stable (``piece``)."""
        return tokenizer.decode([context[-1], *ids])[len(tokenizer.decode(context[-1:])) :]

    with blas:
        for token in context:
            blas.start()
            logits, state = model.step(np.full(count, token), state)  # (rows, V)
            blas.stop(count)
        for _ in range(length):
            if not tokenizer.sample_unknown:
                logits[:, tokenizer.unk_id] = -np.inf
            rows_rngs = [rngs[k] for k in going]
            drawn = sample_rows(logits, temperature, top_k, rows_rngs, top_p)
            ended = drawn == tokenizer.eos_id
            for k, token, end in zip(going.tolist(), drawn.tolist(), ended.tolist(), strict=True):
                if end:
                    finished[k] = True
                else:
                    drawn_ids[k].append(token)
            while shown < count and finished[shown]:
                yield prompt + text_after(drawn_ids[shown])
                shown += 1
            if ended.any():  # the others go on alone: smaller products from here
                kept = np.flatnonzero(~ended)
                if not len(kept):
                    return
                going, drawn, state = going[kept], drawn[kept], model.take_rows(state, kept)
            blas.start()
            logits, state = model.step(drawn, state)
            blas.stop(len(going))
    for k in range(shown, count):  # those that reached --length
        yield prompt + text_after(drawn_ids[k])


@dataclass(frozen=True)
class LineScore:
    """How likely the model finds one line of text."""

    text: str
    log_prob: float  # natural log of p(line), summed over its tokens
    tokens: int  # tokens predicted: the line's tokens and its line end
    unknown: int  # tokens missing from the vocabulary, scored as <unk>
    chars: int = 0  # NFC characters the predicted tokens write (the line end: one)
    bytes: int = 0  # their UTF-8 bytes

    @property
    def perplexity(self) -> float:
        return perplexity(-self.log_prob / self.tokens) if self.tokens else math.nan

    @property
    def bits_per_char(self) -> float:
        return -self.log_prob / math.log(2) / self.chars if self.chars else math.nan

    @property
    def bits_per_byte(self) -> float:
        return -self.log_prob / math.log(2) / self.bytes if self.bytes else math.nan

    def as_dict(self) -> dict[str, Any]:
        """The figures of ``elman score --json``."""
        names = ("text", "log_prob", "perplexity", "bits_per_char", "tokens", "chars", "unknown")
        return {name: getattr(self, name) for name in names}


def scored_line(tokenizer: Tokenizer, line: str) -> EncodedText:
    """The ids ``line_log_probs`` predicts for one line (``Tokenizer.encode_line``: its
    tokens and its line end, when the vocabulary has one), with what each writes."""
    ids = tokenizer.encode_line(line)
    text = tokenizer.encode_text(line + "\n")
    n = len(ids)  # the line end is left out when the vocabulary has none
    unknown = sum(tokenizer.unknown_tokens(line).values())
    return EncodedText(ids, text.chars[:n], text.bytes[:n], unknown)


def line_log_probs(
    model: LanguageModel,
    tokenizer: Tokenizer,
    line: str,
    condition: np.ndarray | None = None,
    where: str = "the line",
) -> np.ndarray:
    """log p of each token of ``line`` and of the line end that closes it (when the
    vocabulary has one), each given the tokens before it, from the start state (zeros,
    or the condition's) after a line start: (N,) in float64. A state that overflows is
    refused, naming the token of ``where`` (the line, for messages) it overflowed at."""
    ids = tokenizer.encode_line(line.rstrip("\n"))
    context = np.array([[line_start(tokenizer), *ids]])
    with np.errstate(over="ignore", invalid="ignore"):  # found below, and said in words
        logits, _ = model.logits(context[:, :-1], model.prepare(1, condition))
    overflow = first_overflow(logits)
    if overflow is not None:
        raise state_overflow(f"at token {overflow[1] + 1:,} of {where}")
    logp = log_softmax(logits.astype(np.float64))[0]  # (N, V)
    return logp[np.arange(len(ids)), ids]


def score(
    model: LanguageModel,
    tokenizer: Tokenizer,
    lines: Iterable[str],
    condition: np.ndarray | None = None,
    names: Sequence[str] | None = None,
) -> Iterator[LineScore]:
    """Score each line independently: from the start state (zeros, or the condition's)
    after a line start, the log-probability of its tokens and of the line end that closes
    it. ``names`` say where each line is, for messages ("FILE line 7"; by default
    "line N" counting the lines given)."""
    for n, line in enumerate(lines):
        line = line.rstrip("\n")
        where = names[n] if names is not None else f"line {n + 1:,}"
        logp = line_log_probs(model, tokenizer, line, condition, where)
        text = scored_line(tokenizer, line)
        chars, nbytes = int(text.chars.sum()), int(text.bytes.sum())
        yield LineScore(line, float(logp.sum()), len(logp), text.unknown, chars, nbytes)
