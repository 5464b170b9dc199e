"""Dynamic evaluation: the model keeps learning from the text it is scoring.

The text is read as one stream, ``bptt`` tokens at a time. Each chunk is scored
with the weights as they are, and only then do the weights take one gradient step
on that chunk's loss (Mikolov et al. 2010; Krause et al. 2018):

    theta <- theta - lr * g + decay * (theta_0 - theta)

so every token is predicted exactly once, from the tokens before it and from
weights that have seen only those tokens. The decay pulls the weights back towards
the trained ones (theta_0), which keeps the adaptation local to recent text. One
stream (batch 1) keeps that order strict: with B parallel streams, a chunk would be
scored with weights that had already learned from later parts of the text.

The trained weights are restored afterwards; the model is left as it was.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from elman.blas import BlasThreads
from elman.data.batching import make_batches
from elman.data.text import same_file
from elman.data.tokenizers import TextCounts
from elman.errors import ElmanError
from elman.lm.data import evaluation_part
from elman.lm.evaluate import Evaluation, covered
from elman.lm.model import LanguageModel
from elman.metrics import perplexity
from elman.optim import SGD
from elman.training import diverged

# Learning rates ``tune_lr`` may try, in the units of the training loss (mean
# cross-entropy per token), about sqrt(10) apart; it starts in the middle.
LR_GRID = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)


class Diverged(ElmanError):
    """The loss stopped being finite: the learning rate is too large."""


def dynamic_evaluate_ids(
    model: LanguageModel,
    ids: np.ndarray,
    lr: float,
    bptt: int,
    eos_id: int | None = None,
    decay: float = 0.0,
    clip: float = 0.0,
    text: TextCounts | None = None,
) -> Evaluation:
    """Mean cross-entropy of ``ids[1:]`` under dynamic evaluation (see module doc).

    ``clip`` bounds the norm of each step's gradient as in training (0: no bound).
    The state is carried or reset per line as the model was trained. ``text``, what the
    ids write (``TextCounts``), gives the characters and bytes scored (``evaluate.covered``).
    """
    if not lr > 0:
        raise ElmanError(f"the dynamic-evaluation learning rate must be positive, got {lr}.")
    if not 0 <= decay < 1:
        raise ElmanError(f"the dynamic-evaluation decay must be in [0, 1), got {decay}.")
    if len(ids) < 2:
        raise ElmanError("the text is too short to evaluate: it needs at least two tokens.")
    batches = make_batches(ids, model.config.state, eos_id, 1, bptt)
    trained = model.flat_params.copy()
    optimizer = SGD(model.flat_params, lr)  # the clipped SGD step that training takes
    was_training, model.training = model.training, False
    total, count = 0.0, 0
    # What a loss is compared with to tell divergence: a uniform guess, or the trained
    # model's own loss on the first chunk if the text is harder than that for it.
    reference = math.log(model.config.vocab_size)
    try:
        # A rate too large overflows: caught below as a non-finite loss, not warned about.
        with (
            np.errstate(over="ignore", invalid="ignore"),
            BlasThreads.for_arrays(model.arrays) as blas,
        ):
            model.reset_state()
            for b in batches:
                if b.reset:
                    model.reset_state()
                blas.start()  # one BLAS thread or all, by timing the chunks
                model.zero_grad()
                loss = model.forward(b.inputs, b.targets, b.mask)
                if count == 0 and math.isfinite(loss):
                    reference = max(reference, loss)
                if diverged(loss, reference):
                    raise Diverged(
                        f"dynamic evaluation diverged after {count:,} tokens with learning "
                        f"rate {lr:g} (the loss became {loss:.4g}); use a smaller rate."
                    )
                total += model.loss_layer.total
                count += model.loss_layer.count
                model.backward()
                optimizer.step(model.flat_grads, clip=clip)
                if decay:
                    model.flat_params += decay * (trained - model.flat_params)
                blas.stop(b.inputs.size)
    finally:
        model.flat_params[...] = trained
        model.reset_state()
        model.training = was_training
    if text is None:
        return Evaluation(loss=total / count, tokens=count)
    chars, nbytes = covered(batches, text)
    return Evaluation(total / count, count, text.unknown, chars, nbytes)


def tune_lr(
    model: LanguageModel,
    ids: np.ndarray,
    bptt: int,
    eos_id: int | None = None,
    decay: float = 0.0,
    clip: float = 0.0,
    grid: Sequence[float] = LR_GRID,
) -> tuple[float, dict[float, float]]:
    """The learning rate with the lowest dynamic-evaluation loss on ``ids`` (held-out
    text that is not the test text), and the loss of each rate tried.

    A walk down the loss over ``grid``: from its middle towards whichever neighbour is
    better, until the next rate is worse; then the geometric midpoints between the
    best rate and its neighbours are tried too. Each try is a pass over ``ids``; a
    rate that diverges counts as an infinite loss.
    """
    rates = sorted(grid)
    losses: dict[float, float] = {}

    def loss(lr: float) -> float:
        if lr not in losses:
            try:
                losses[lr] = dynamic_evaluate_ids(model, ids, lr, bptt, eos_id, decay, clip).loss
            except Diverged:
                losses[lr] = math.inf
        return losses[lr]

    i = len(rates) // 2
    step = 1 if i + 1 < len(rates) and loss(rates[i + 1]) < loss(rates[i]) else -1
    while 0 <= i + step < len(rates) and (
        loss(rates[i + step]) < loss(rates[i]) or math.isinf(loss(rates[i]))  # diverged: lower
    ):
        i += step
    if math.isinf(losses[rates[i]]):
        raise ElmanError(
            "dynamic evaluation diverged at every learning rate tried; check the model "
            "with a plain elman eval first."
        )
    for j in (i - 1, i + 1):
        if 0 <= j < len(rates):
            loss(math.sqrt(rates[i] * rates[j]))
    return min(losses, key=losses.__getitem__), losses


def report(
    ckpt: Any,
    ids: np.ndarray,
    counts: TextCounts,
    lr: float | None = None,
    tune: str | None = None,
    bptt: int | None = None,
    decay: float = 0.0,
    scored: str | None = None,
) -> dict[str, Any]:
    """Dynamic evaluation of the text whose ids are ``ids`` (writing ``counts``) by
    ``ckpt``'s model, at learning rate ``lr`` or the rate that does best on the text of
    ``tune`` (a file or a prepared corpus, as ``elman eval --data``; ``tune_lr``; never
    ``scored``, where ``ids`` came from), ``bptt`` tokens per update (default: as
    trained): its figures, the settings, and the rates tried."""
    if lr is not None and tune:
        raise ElmanError("give --dynamic-lr or --dynamic-tune, not both.")
    if tune and scored is not None and same_file(tune, scored):
        raise ElmanError(
            f"--dynamic-tune {tune} is the text being scored; tune the rate on other held-out "
            "text (e.g. the validation text), or the figure would be tuned on its own test."
        )
    if lr is not None and not lr > 0:
        raise ElmanError(f"--dynamic-lr must be positive, got {lr}.")
    model, tokenizer, config = ckpt.model, ckpt.tokenizer, ckpt.train_config
    bptt = config.bptt if bptt is None else bptt
    if bptt < 1:
        raise ElmanError(f"--dynamic-bptt must be a positive integer, got {bptt}.")
    settings = {"bptt": bptt, "eos_id": tokenizer.eos_id, "decay": decay, "clip": config.clip}
    found: dict[str, Any] = {"decay": decay, "bptt": bptt}
    if tune:
        tune_ids, _ = evaluation_part(ckpt, tune).encoded(tokenizer)
        lr, losses = tune_lr(model, tune_ids, **settings)
        found["tuned_on"] = tune
        found["tried"] = {  # perplexity at each rate; None where it diverged
            rate: perplexity(loss) if math.isfinite(loss) else None
            for rate, loss in sorted(losses.items())
        }
    result = dynamic_evaluate_ids(model, ids, lr, **settings, text=counts)
    figures = ("perplexity", "loss", "tokens", "bits_per_char", "bits_per_byte", "chars", "bytes")
    return {**found, "lr": lr, **{name: getattr(result, name) for name in figures}}


def describe(found: dict[str, Any]) -> list[str]:
    """``report``'s figures as lines of text (``elman eval --dynamic-*``)."""
    tuned = ""
    if "tuned_on" in found:
        tried = ", ".join(
            f"{lr:g}: " + (f"{ppl:.2f}" if ppl is not None else "diverged")
            for lr, ppl in found["tried"].items()
        )
        tuned = f", tuned on {found['tuned_on']} (perplexity there at each lr: {tried})"
    return [
        f"dynamic evaluation (one stream, an update every {found['bptt']} tokens, "
        f"lr {found['lr']:g}, decay {found['decay']:g}{tuned}):",
        f"perplexity     {found['perplexity']:.3f} over {found['tokens']:,} tokens, "
        f"{found['bits_per_char']:.4f} bits per character",
    ]
