"""Sampling text from a model, and scoring lines of text with it."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from elman.data.tokenizers import CharTokenizer, WordTokenizer
from elman.errors import ElmanError
from elman.model import LanguageModel
from elman.nn import log_softmax
from elman.numbers import perplexity

Tokenizer = CharTokenizer | WordTokenizer


def _line_start(tokenizer: Tokenizer) -> int:
    # Every text is read as if it followed a line break (<eos> or "\n"), the
    # context a model trained on lines has seen before a line's first token.
    return tokenizer.eos_id if tokenizer.eos_id is not None else tokenizer.unk_id


def encode_prompt(tokenizer: Tokenizer, prompt: str) -> list[int]:
    """The prompt's token ids, refusing tokens the vocabulary lacks.

    A word-level prompt that does not end with a newline is an unfinished line,
    so it gets no closing <eos>.
    """
    unknown = tokenizer.unknown_tokens(prompt)
    if unknown:
        shown = ", ".join(repr(t) for t in list(unknown)[:10])
        raise ElmanError(
            f"the prompt has {len(unknown)} token(s) the model's vocabulary lacks "
            f"({shown}); rephrase the prompt with tokens from the training text."
        )
    ids = [int(i) for i in tokenizer.encode(prompt)]
    if (
        tokenizer.level == "word"
        and not prompt.endswith("\n")
        and ids
        and ids[-1] == tokenizer.eos_id
    ):
        ids.pop()
    return ids


def sample_next(
    logits: np.ndarray, temperature: float, top_k: int, rng: np.random.Generator
) -> int:
    """Pick a token id from logits (V,): greedy at temperature 0, else sample
    softmax(logits / temperature) restricted to the ``top_k`` largest (0: all)."""
    if temperature == 0:
        return int(np.argmax(logits))
    # Shift before dividing: the largest becomes 0 and the rest at worst -inf (an
    # intended overflow), never inf - inf = NaN, however small the temperature.
    with np.errstate(over="ignore"):
        z = (logits.astype(np.float64) - logits.max()) / temperature
    if 0 < top_k < len(z):
        kth = np.partition(z, -top_k)[-top_k]
        z[z < kth] = -np.inf
    return draw_index(np.exp(z), rng.random())  # the largest z is 0: nothing overflows


SAMPLING_BLOCK = 128  # weights per block in ``draw_index``


def draw_index(weights: np.ndarray, u: float) -> int:
    """Inverse-transform sampling: for weights w >= 0 (not all 0) and u in [0, 1), the
    index i with W_{i-1} <= u W < W_i, where W_i = w_0 + ... + w_i and W is the total;
    with u uniform, i is drawn with probability w_i / W, and a zero weight never is.

    In two levels, because one cumulative sum over a whole vocabulary is slow
    (``np.cumsum`` of 10,000 weights takes 33 µs, a third of a sampling step, and
    ``Generator.choice`` 61 µs): the cumulative sum of block totals finds the block,
    then the cumulative sum within it the index (10 µs).
    """
    starts = np.arange(0, len(weights), SAMPLING_BLOCK)
    totals = np.add.reduceat(weights, starts)
    cumulative = np.cumsum(totals)
    if not cumulative[-1] > 0:  # also NaN
        raise ValueError(f"cannot sample from weights that sum to {cumulative[-1]}")
    target = u * cumulative[-1]
    block = int(np.searchsorted(cumulative, target, side="right"))
    # Rounding may put the target at the very end, or just outside the block's share.
    # Clamping then to the last block, or index, with weight keeps zero weights out.
    block = int(np.flatnonzero(totals[: block + 1])[-1])
    start = int(starts[block])
    within = np.cumsum(weights[start : start + SAMPLING_BLOCK])
    offset = target - (cumulative[block - 1] if block else 0.0)
    i = min(int(np.searchsorted(within, max(offset, 0.0), "right")), len(within) - 1)
    return start + int(np.flatnonzero(weights[start : start + i + 1])[-1])


def stream(
    model: LanguageModel,
    tokenizer: Tokenizer,
    prompt: str = "",
    length: int = 200,
    temperature: float = 1.0,
    top_k: int = 0,
    seed: int = 0,
) -> Iterator[str]:
    """Yield generated text piece by piece, as each token is sampled.

    1. Encode the prompt, preceded by a line start.
    2. Feed it through the network one token at a time to warm the hidden state.
    3. Sample the next token from the last output, feed it back, and repeat
       ``length`` times. The same seed gives the same text.

    The arguments and the prompt are checked here, when ``stream`` is called, not
    when the first piece is asked for: a caller that prints the prompt before the
    pieces then prints nothing for a bad prompt.
    """
    if length < 0:
        raise ElmanError(f"--length must be zero or positive, got {length}.")
    if not 0 <= temperature < math.inf:  # NaN too
        raise ElmanError(f"--temperature must be zero or positive and finite, got {temperature}.")
    if seed < 0:
        raise ElmanError(f"--seed must be zero or positive, got {seed}.")
    if top_k < 0:
        raise ElmanError(f"--top-k must be zero or positive, got {top_k}.")
    context = [_line_start(tokenizer), *encode_prompt(tokenizer, prompt)]
    return _sample(model, tokenizer, context, length, temperature, top_k, seed)


def _sample(
    model: LanguageModel,
    tokenizer: Tokenizer,
    context: list[int],
    length: int,
    temperature: float,
    top_k: int,
    seed: int,
) -> Iterator[str]:
    # A generator apart from ``stream``, whose checks would otherwise wait for next().
    rng = np.random.default_rng(seed)
    state = model.initial_state(1)
    for token in context:
        logits, state = model.step(np.array([token]), state)
    previous = context[-1]
    for _ in range(length):
        if tokenizer.level == "char":
            # The character-level unknown symbol stands for characters the model never
            # saw; writing it (as U+FFFD) would put no text in the output.
            logits[0, tokenizer.unk_id] = -np.inf
        token = sample_next(logits[0], temperature, top_k, rng)
        # Decoding is prefix-stable and the joint between two tokens depends on
        # them alone (a space between words, none around a line end), so the new
        # piece is what the token adds to the one before it.
        before = tokenizer.decode([previous])
        yield tokenizer.decode([previous, token])[len(before) :]
        previous = token
        logits, state = model.step(np.array([token]), state)


def generate(
    model: LanguageModel,
    tokenizer: Tokenizer,
    prompt: str = "",
    length: int = 200,
    temperature: float = 1.0,
    top_k: int = 0,
    seed: int = 0,
) -> str:
    """The prompt followed by ``length`` sampled tokens (see ``stream``)."""
    return prompt + "".join(stream(model, tokenizer, prompt, length, temperature, top_k, seed))


@dataclass(frozen=True)
class LineScore:
    """How likely the model finds one line of text."""

    text: str
    log_prob: float  # natural log of p(line), summed over its tokens
    tokens: int  # tokens predicted: the line's tokens and its line end
    unknown: int  # tokens missing from the vocabulary, scored as <unk>

    @property
    def perplexity(self) -> float:
        return perplexity(-self.log_prob / self.tokens) if self.tokens else math.nan


def score(model: LanguageModel, tokenizer: Tokenizer, lines: Iterable[str]) -> Iterator[LineScore]:
    """Score each line independently: from h_0 = 0 after a line start, the
    log-probability of its tokens and of the line end that closes it. Leaves the
    model in evaluation mode (no dropout)."""
    model.training = False
    for line in lines:
        line = line.rstrip("\n")
        ids = tokenizer.encode(line + "\n")
        if tokenizer.level == "char" and tokenizer.eos_id is None:
            ids = ids[:-1]  # no "\n" in the vocabulary: nothing closes the line
        context = np.array([[_line_start(tokenizer), *ids]])
        model.reset_state()
        logp = log_softmax(model.logits(context[:, :-1]).astype(np.float64))[0]  # (T, V)
        model.reset_state()
        total = float(logp[np.arange(len(ids)), ids].sum())
        yield LineScore(line, total, len(ids), sum(tokenizer.unknown_tokens(line).values()))
