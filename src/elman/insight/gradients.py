"""The gradient through time: how much the loss at one step is moved by the hidden state
k steps earlier, ||dL_T / dh_{T-k}|| for k = 0, 1, ..., averaged over many places in a
text.

Backpropagation through time multiplies the gradient by the step's Jacobian at every
step back (for a tanh RNN, diag(1 - h_t^2) W_h^T), so unless something keeps it at 1
it shrinks or grows geometrically (Bengio, Simard & Frasconi 1994; Pascanu, Mikolov &
Bengio 2013). The LSTM's cell adds instead of multiplying by W_h, which is why it
remembers further back (Hochreiter & Schmidhuber 1997). The norms here come from the
model's own backward pass (each layer's ``backward(record=...)``), so they show what
training on this text would see.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from elman.data.tokenizers import Tokenizer
from elman.errors import ElmanError
from elman.insight.units import MAX_TOKENS, read_tokens
from elman.lm.generate import line_start
from elman.lm.model import LanguageModel
from elman.nn import LSTM

STEPS = 50
POSITIONS = 100


@dataclass
class GradientNorms:
    """``norms[layer][k]``: the mean over positions T of ||dL_T / dh_{T-k}|| for k = 0..steps,
    where L_T is the cross-entropy of the token after T alone; ``norms_c`` the same for an
    LSTM's cell c (None for other cells)."""

    cell: str
    steps: int
    positions: int
    norms: list[list[float]]
    norms_c: list[list[float]] | None = None
    scale: float = 1.0  # what the caller multiplied every W_h by first (scale_recurrent)
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "cell": self.cell,
            "steps": self.steps,
            "positions": self.positions,
            "scale_recurrent": self.scale,
            "norms": self.norms,
        }
        if self.norms_c is not None:
            data["norms_c"] = self.norms_c
        return {**data, **self.extra}

    def ratio(self, k: int, layer: int = -1) -> float:
        """norms[layer][k] / norms[layer][0]: how much of the gradient is left k steps back."""
        return self.norms[layer][k] / self.norms[layer][0]


def scale_recurrent(model: LanguageModel, scale: float) -> None:
    """Multiply every layer's recurrent weights W_h by ``scale``, in place: the
    vanishing (scale < 1) and exploding (scale > 1) demonstration."""
    if not np.isfinite(scale):
        raise ElmanError(f"--scale-recurrent must be a finite number, got {scale}.")
    for rnn in model.rnns:
        rnn.params["W_h"] *= scale


def spectral_radius(matrix: np.ndarray) -> float:
    """The largest |eigenvalue| of a square matrix (a plain RNN's W_h)."""
    return float(np.abs(np.linalg.eigvals(matrix.astype(np.float64))).max())


def positions_in(length: int, steps: int, count: int, warmup: int = 0) -> np.ndarray:
    """Up to ``count`` positions T, evenly spread over a text of ``length`` tokens from its
    last one back, each with ``warmup + steps`` tokens before it and one after it (the
    target)."""
    if length < warmup + steps + 2:
        need = f"--steps {steps} and --warmup {warmup} need" if warmup else f"--steps {steps} needs"
        raise ElmanError(
            f"the text has {length:,} tokens, but {need} at least "
            f"{warmup + steps + 2}; give a longer text or fewer --steps."
        )
    if count < 1:
        raise ElmanError(f"--positions must be a positive integer, got {count}.")
    first, last = warmup + steps, length - 2
    spread = np.linspace(last, first, min(count, last - first + 1))
    return np.unique(spread.round().astype(int))


def gradient_norms(
    model: LanguageModel,
    ids: np.ndarray,
    tokenizer: Tokenizer | None = None,
    steps: int = STEPS,
    positions: int = POSITIONS,
    warmup: int | None = None,
) -> GradientNorms:
    """||dL_T / dh_{T-k}|| for k = 0..``steps``, for every layer, averaged over up to
    ``positions`` places T in ``ids`` (T,).

    The text is read once from a zero state (after a line start, when ``tokenizer`` is
    given) to find each layer's state before every window; with ``warmup`` = N, each
    window's state is instead that after reading only the N tokens before it (0: the
    zero state), which keeps a model whose state blows up over a long text (W_h scaled
    up) finite. Then all windows
    ids[T-steps .. T] go through the network as one batch, from those states, through
    the model's own layers (no dropout). The loss is the cross-entropy of ids[T+1] at
    the window's last step only, and each layer's ``backward(record=...)`` gives the
    gradient reaching its h_t (and c_t) at every step: the whole gradient, through later
    steps of the layer and through the layers above. The model's weights are not
    changed; its carried state and gradients are left at zero.
    """
    ids = np.asarray(ids, dtype=np.int64)
    if warmup is not None and warmup < 0:
        raise ElmanError(f"--warmup must be zero or positive, got {warmup}.")
    where = positions_in(len(ids), steps, positions, warmup or 0)
    start = where - steps  # each window's first token
    before = states_before(model, ids, start, tokenizer, warmup)
    windows = ids[start[:, None] + np.arange(steps + 1)]  # (B, K), K = steps + 1
    targets = ids[where + 1]  # (B,)
    B, K = windows.shape
    model.zero_grad()
    model.reset_state()
    x = model.embedding.apply(windows)
    for rnn, state in zip(model.rnns, before, strict=True):
        x = rnn.forward(x, state)
    last = x[:, -1:]  # (B, 1, H): the loss is at the last step only
    if model.adaptive:
        model.output.forward(last, targets[:, None])
        d_last = model.output.backward()
    else:
        model.loss_layer.forward(model.output.forward(last), targets[:, None])
        d_last = model.output.backward(model.loss_layer.backward())
    dx = np.zeros_like(x)
    dx[:, -1:] = d_last * B  # the loss layers average over the batch: each L_T on its own
    norms: list[list[float]] = []
    norms_c: list[list[float]] = []
    for rnn in reversed(model.rnns):
        record: dict[str, np.ndarray] = {}
        dx, _ = rnn.backward(dx, None, record)
        norms.insert(0, _mean_norms(record["h"]))
        if "c" in record:
            norms_c.insert(0, _mean_norms(record["c"]))
    model.zero_grad()
    model.reset_state()
    lstm = isinstance(model.rnns[0], LSTM)
    return GradientNorms(model.config.cell, steps, B, norms, norms_c if lstm else None)


def _mean_norms(grads: np.ndarray) -> list[float]:
    """(B, K, H) gradients at every step of the windows -> the mean over the windows of
    their norms, k steps back from the last: [k = 0, 1, ..., K - 1]."""
    norms = np.linalg.norm(grads.astype(np.float64), axis=2).mean(axis=0)  # (K,)
    return norms[::-1].tolist()


def states_before(
    model: LanguageModel,
    ids: np.ndarray,
    start: np.ndarray,
    tokenizer: Tokenizer | None,
    warmup: int | None = None,
) -> list:
    """Each layer's state before the tokens ids[start] (B,), from a zero state (after a
    line start, with ``tokenizer``): having read the whole text before them (``warmup``
    None, one pass), or only the ``warmup`` tokens before each. A batch of states in the
    layers' own form ((h, c) for an LSTM)."""
    prefix = np.array([[line_start(tokenizer)]]) if tokenizer is not None else None
    state = model.logits(prefix)[1] if prefix is not None else model.initial_state(1)
    B = len(start)
    if warmup is None:  # one stream; h_all[j] below is the state before token j
        x = model.embedding.apply(ids[None, : max(int(start.max()), 1)])
    else:  # one stream per window, from the same state
        state = [
            tuple(np.repeat(p, B, axis=0) for p in s) if isinstance(s, tuple) else s.repeat(B, 0)
            for s in state
        ]
        if warmup == 0:
            return state
        x = model.embedding.apply(ids[start[:, None] - warmup + np.arange(warmup)])
    out = []
    for rnn, layer_state in zip(model.rnns, state, strict=True):
        traced = rnn.trace(x, layer_state)
        x = traced["h"]
        parts = layer_state if isinstance(rnn, LSTM) else (layer_state,)
        names = ("h", "c")[: len(parts)]
        picked = []
        for name, part in zip(names, parts, strict=True):
            if warmup is None:
                every = np.concatenate([part[:, None], traced[name]], axis=1)[0]  # (T + 1, H)
                picked.append(every[start].copy())
            else:
                picked.append(traced[name][:, -1].copy())
        out.append(tuple(picked) if isinstance(rnn, LSTM) else picked[0])
    return out


SHOWN_STEPS = (0, 1, 2, 5, 10, 20, 50, 100, 200)  # the k a table shows


def compare(
    checkpoints: list[tuple[str, Any]],
    text: str,
    steps: int = STEPS,
    positions: int = POSITIONS,
    warmup: int | None = None,
    scale: float | None = None,
    max_tokens: int = MAX_TOKENS,
) -> tuple[list[tuple[str, GradientNorms]], list[str]]:
    """``gradient_norms`` of each (name, language-model checkpoint) on the first
    ``max_tokens`` tokens of ``text``, every W_h first multiplied by ``scale`` if given;
    and notes on what was cut or overflowed (``elman inspect gradients``)."""
    if steps < 1:
        raise ElmanError(f"--steps must be a positive integer, got {steps}.")
    results, notes = [], []
    for name, ckpt in checkpoints:
        if scale is not None:
            scale_recurrent(ckpt.model, scale)
        tokens = read_tokens(ckpt.tokenizer, text, max_tokens)
        if tokens.note:
            notes.append(f"note ({name}): {tokens.note}")
        result = gradient_norms(ckpt.model, tokens.ids, ckpt.tokenizer, steps, positions, warmup)
        result.scale = 1.0 if scale is None else scale
        if not all(math.isfinite(v) for norms in result.norms for v in norms):
            notes.append(
                f"note ({name}): some norms overflowed (nan or inf); --warmup 0 starts each "
                "window from a zero state, which keeps a state that grows finite."
            )
        results.append((name, result))
    return results, notes


def table(results: list[tuple[str, GradientNorms]]) -> list[str]:
    """Each model's mean norms at a few k, and what is left of them relative to k = 0, as
    lines of text (``elman inspect gradients``)."""
    lines = []
    for directory, r in results:
        scaled = f", W_h x {r.scale:g}" if r.scale != 1 else ""
        lines.append(f"{directory}: {r.cell}{scaled}, mean over {r.positions} positions")
        ks = [k for k in SHOWN_STEPS if k <= r.steps]
        lines.append("  k" + "".join(f"{k:>11}" for k in ks))
        for layer, norms in enumerate(r.norms):
            rows = [(f"h{layer}", norms)]
            if r.norms_c is not None:
                rows.append((f"c{layer}", r.norms_c[layer]))
            for name, values in rows:
                lines.append(f"  {name:<3}" + "".join(f"{values[k]:>11.3e}" for k in ks))
                left = values[r.steps] / values[0] if values[0] > 0 else math.nan
                lines.append(f"      {r.steps} steps back / 0 steps back = {left:.3e}")
    return lines
