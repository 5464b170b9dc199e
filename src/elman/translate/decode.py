"""Writing translations: beam search over the decoder's next-token distributions, batched
(B sources x K hypotheses decoded as B K rows at once); greedy decoding is the beam of
one.

Each source's K hypotheses start as one (the start token, log-probability 0). At every
step each live hypothesis is extended by every token, and the K best extensions of a
source by summed log-probability stay (ties to the lower hypothesis and token id, so
the same model and sources always give the same output: nothing here is random). A
hypothesis that writes <eos> is finished and kept as it is; one that reaches the
source's length limit (``max_ratio`` x source tokens + ``max_extra``) stops there.
When all are finished, each source's translation is its hypothesis with the best
log-probability / length^alpha (``length_penalty`` alpha, the length counting <eos>;
Wu et al. 2016 use a smoothed length, ((5 + |Y|) / 6)^alpha; alpha = 0 keeps the sum,
which favours short translations, 1 is the mean per token).

The attention weights behind each output token come with the translation, one row of
source weights per token written (its <eos> included).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from elman.blocks.decoder import take_state
from elman.data.padded import bucket, pad
from elman.nn.loss import log_softmax
from elman.translate.checkpoint import TranslatorCheckpoint
from elman.translate.data import MAX_TARGET_TOKENS, source_ids
from elman.translate.model import Translator, check_beam, check_memory


@dataclass(frozen=True)
class Translation:
    """One source's best hypothesis."""

    ids: np.ndarray  # target token ids, <eos> not included
    log_prob: float  # natural log-probability of the ids (and of <eos> when finished)
    score: float  # log_prob / length^alpha, what the beam ranked it by
    finished: bool  # ended with <eos> (False: stopped at the length limit)
    attention: np.ndarray | None  # (tokens written, S) weights over the source, or None


def length_limits(source_lengths: np.ndarray, max_ratio: float, max_extra: int) -> np.ndarray:
    """The most tokens (<eos> included) a translation of each source may have: at least 1,
    and at most the longest target a translator learns (``data.MAX_TARGET_TOKENS``) and
    its <eos>."""
    limits = np.floor(max_ratio * np.asarray(source_lengths, np.float64)) + max_extra
    return np.clip(limits, 1, MAX_TARGET_TOKENS + 1).astype(np.int64)


def beam_search(
    model: Translator,
    source: np.ndarray,
    source_lengths: np.ndarray,
    eos_id: int,
    beam: int = 5,
    length_penalty: float = 1.0,
    max_ratio: float = 2.0,
    max_extra: int = 10,
) -> list[Translation]:
    """The best translation of each right-padded source (B, S) of ``source_lengths`` (B,):
    see the module doc. ``beam`` 1 is greedy decoding."""
    B, K, S = len(source), beam, source.shape[1]
    conditioning, state = model.encode(source, source_lengths)
    rows = np.repeat(np.arange(B), K)  # hypothesis k of source b is row b K + k
    conditioning, state = conditioning.take(rows), take_state(state, rows)
    limits = length_limits(source_lengths, max_ratio, max_extra)
    steps = int(limits.max())
    scores = np.full((B, K), -np.inf)
    scores[:, 0] = 0.0  # one hypothesis to start with
    finished = np.zeros((B, K), bool)
    lengths = np.zeros((B, K), np.int64)  # tokens written, <eos> included
    written = np.zeros((B, K, steps), np.int64)
    weights_written = np.zeros((B, K, steps, S)) if model.attends else None
    ended = np.full(model.config.vocab_size, -np.inf)  # a finished hypothesis' only way on
    ended[eos_id] = 0.0
    tokens = np.full(B * K, eos_id, np.int64)  # the start token
    for t in range(steps):
        logits, weights, state = model.step(tokens, conditioning, state)
        log_p = log_softmax(logits.astype(np.float64)).reshape(B, K, -1)
        log_p = np.where(finished[:, :, None], ended, log_p)
        candidates = (scores[:, :, None] + log_p).reshape(B, -1)  # (B, K V)
        best = _top(candidates, K)
        parent, token = np.divmod(best, log_p.shape[2])  # (B, K) each
        scores = np.take_along_axis(candidates, best, axis=1)
        parent_rows = (np.arange(B)[:, None] * K + parent).ravel()
        state = take_state(state, parent_rows)
        was_finished = np.take_along_axis(finished, parent, axis=1)
        written = np.take_along_axis(written, parent[:, :, None], axis=1)
        written[:, :, t] = token
        lengths = np.take_along_axis(lengths, parent, axis=1) + ~was_finished
        if weights_written is not None:
            weights_written = np.take_along_axis(weights_written, parent[:, :, None, None], 1)
            weights_written[:, :, t] = weights[parent_rows].reshape(B, K, S)
        finished = was_finished | (token == eos_id) | (lengths >= limits[:, None])
        tokens = token.ravel()
        if finished.all():
            break
    normalised = scores / np.maximum(lengths, 1) ** length_penalty
    out = []
    for b, k in enumerate(normalised.argmax(axis=1)):
        ids = written[b, k, : lengths[b, k]]
        done = len(ids) > 0 and ids[-1] == eos_id
        attention = None
        if weights_written is not None:
            attention = weights_written[b, k, : lengths[b, k], : source_lengths[b]]
        out.append(
            Translation(
                ids[:-1].copy() if done else ids.copy(),
                float(scores[b, k]),
                float(normalised[b, k]),
                bool(done),
                attention,
            )
        )
    return out


def _top(candidates: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the k largest entries of each row, largest first, ties to the
    lower index."""
    k = min(k, candidates.shape[1])
    part = np.argpartition(-candidates, k - 1, axis=1)[:, :k]
    # argpartition leaves ties at its boundary to chance of layout: take every column
    # tied with the k-th value, then order by (value, index).
    kth = np.take_along_axis(candidates, part, axis=1).min(axis=1, keepdims=True)
    best = []
    for row, threshold in zip(candidates, kth[:, 0], strict=True):
        columns = np.flatnonzero(row >= threshold)
        order = np.lexsort((columns, -row[columns]))
        best.append(columns[order[:k]])
    return np.array(best, np.int64)


def translate_ids(
    model: Translator,
    sources: Sequence[np.ndarray],
    eos_id: int,
    beam: int = 5,
    length_penalty: float = 1.0,
    max_ratio: float = 2.0,
    max_extra: int = 10,
    batch: int = 32,
) -> list[Translation]:
    """The translation of each source (token ids, as the encoder reads them), in input
    order; sources of similar length are decoded ``batch`` at a time. A beam wider than
    ``MAX_BEAM``, or one whose decoding would not fit in the memory available
    (``model.memory_needed``), is refused before anything is decoded."""
    check_beam(beam)
    if len(sources):
        longest = max(len(s) for s in sources)
        check_memory(
            model.config,
            model.translate,
            f"translating sentences of up to {longest:,} tokens {min(batch, len(sources))} at "
            f"a time with a beam of {beam}",
            "choose a smaller --beam or --batch",
            longest,
            decode_batch=min(batch, len(sources)),
            beam=beam,
        )
    out: list[Translation | None] = [None] * len(sources)
    for index in bucket([len(s) for s in sources], batch):
        source, lengths = pad([sources[i] for i in index])
        found = beam_search(
            model, source, lengths, eos_id, beam, length_penalty, max_ratio, max_extra
        )
        for i, translation in zip(index, found, strict=True):
            out[i] = translation
    return out  # type: ignore[return-value]


def translate(
    ckpt: TranslatorCheckpoint,
    sentences: Sequence[str],
    beam: int | None = None,
    batch: int = 32,
) -> list[str]:
    """The translation of each sentence, with the checkpoint's settings (its beam width
    unless ``beam`` is given, --reverse-source applied as in training).

    >>> ckpt = elman.translate.load("runs/addition")   # doctest: +SKIP
    >>> elman.translate.translate(ckpt, ["16+75", "52+607"])  # doctest: +SKIP
    ['91', '659']
    """
    config = ckpt.translate_config
    sources = [source_ids(s, ckpt.source, config.reverse_source) for s in sentences]
    found = translate_ids(
        ckpt.model,
        sources,
        ckpt.target.eos_id,
        config.beam if beam is None else beam,
        config.length_penalty,
        config.max_ratio,
        config.max_extra,
        batch,
    )
    return [ckpt.target.decode(t.ids.tolist()) for t in found]


def attention_in_line_order(
    ckpt: TranslatorCheckpoint, line: str, found: Translation
) -> tuple[np.ndarray, list[str], list[str]]:
    """``found``'s attention weights with their labels, for showing: (weights (tokens
    written, S), the source tokens in the order of the line (a model reading backwards
    is turned round), the tokens written, its <eos> included when it finished)."""
    if found.attention is None:
        raise ValueError("the model has no attention")
    weights = found.attention
    # The tokens of the ids the encoder read (no line end: a word vocabulary's <eos>).
    line = line.strip()
    source_tokens = ckpt.source.tokenize(line)[: len(ckpt.source.encode_unfinished(line))]
    if ckpt.translate_config.reverse_source:
        weights = weights[:, ::-1]
    output_tokens = [ckpt.target.tokens[i] for i in found.ids]
    output_tokens += ["<eos>"] if found.finished else []
    return weights, source_tokens, output_tokens


def translate_lines(
    ckpt: TranslatorCheckpoint, lines: Sequence[str], beam: int, batch: int, name: str = "the text"
) -> Iterator[list[tuple[int, Translation | None]]]:
    """The translation of each line (None for a blank one), ``batch`` lines at a time as
    each batch is ready, by line number from 0. Every line is checked before any is
    translated (a source too long, named as ``name`` line N): a bad line stops nothing
    half-done."""
    config = ckpt.translate_config
    sources = [
        None if not line.strip()
        else source_ids(line, ckpt.source, config.reverse_source, f"{name} line {n}")
        for n, line in enumerate(lines, 1)
    ]  # fmt: skip
    for start in range(0, len(lines), batch):
        rows = range(start, min(start + batch, len(lines)))
        chunk = [i for i in rows if sources[i] is not None]
        found = translate_ids(
            ckpt.model, [sources[i] for i in chunk], ckpt.target.eos_id, beam,
            config.length_penalty, config.max_ratio, config.max_extra, batch,
        )  # fmt: skip
        answers = dict(zip(chunk, found, strict=True))
        yield [(i, answers.get(i)) for i in rows]
