"""PNG pictures of the gradient through time, of training curves and of a translator's
attention, with matplotlib:
an optional dependency (``pip install 'elman[plot]'``), imported when a picture is
drawn, never when elman is imported."""

from __future__ import annotations

import importlib.util
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from elman.checkpoint import atomic_write, check_output_file
from elman.errors import ElmanError
from elman.insight.curves import Curves
from elman.insight.gradients import GradientNorms

INSTALL = "pip install 'elman[plot]'"


def require_matplotlib(what: str = "drawing a plot") -> None:
    """Refuse, with the fix, when matplotlib is not installed: called before any work
    that would end in a picture (``elman train --plot`` checks before training)."""
    if importlib.util.find_spec("matplotlib") is None:
        raise ElmanError(f"{what} needs matplotlib, which is not installed; {INSTALL}.")


def check_plot(path: str | os.PathLike) -> Path:
    """--plot FILE.png, checked before any work: matplotlib is installed, and the name
    ends in .png, is not a directory, and is in a directory that exists."""
    require_matplotlib()
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ElmanError(
            f"--plot writes a PNG picture, so its name should end in .png, got {path}."
        )
    return check_output_file(path, "--plot")


def _pyplot() -> Any:
    require_matplotlib()
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: str | os.PathLike) -> None:
    """The figure as a PNG at ``path``, written under a temporary name and renamed once
    whole (``checkpoint.atomic_write``): a full disk leaves the picture there before."""
    fig.tight_layout()
    try:
        atomic_write(Path(path), lambda tmp: fig.savefig(tmp, dpi=100, format="png"))
    finally:
        _pyplot().close(fig)


def plot_gradients(results: Sequence[tuple[str, GradientNorms]], path: str | os.PathLike) -> None:
    """The norms of several models side by side on one log-scale plot: one line per model
    and layer (dashed: an LSTM's cell c), k steps back on the x axis."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for name, result in results:
        layers = len(result.norms)
        for layer, norms in enumerate(result.norms):
            label = name if layers == 1 else f"{name} layer {layer}"
            (line,) = ax.plot(range(len(norms)), _positive(norms), label=f"{label}: h")
            if result.norms_c is not None:
                ax.plot(
                    range(len(norms)),
                    _positive(result.norms_c[layer]),
                    linestyle="--",
                    color=line.get_color(),
                    label=f"{label}: c",
                )
    ax.set_yscale("log")
    ax.set_xlabel("k: steps back from the loss")
    ax.set_ylabel("mean ||dL_T / dh_(T-k)||")
    ax.set_title("Gradient through time")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8)
    _save(fig, path)


def plot_attention(
    weights: np.ndarray,
    source_tokens: Sequence[str],
    output_tokens: Sequence[str],
    path: str | os.PathLike,
) -> None:
    """``weights`` (one row per output token, one column per source token, each row
    summing to 1) as a heatmap: output tokens down the side, source tokens along the top."""
    plt = _pyplot()
    rows, columns = weights.shape
    fig, ax = plt.subplots(figsize=(1.5 + 0.35 * columns, 1.2 + 0.35 * rows))
    ax.imshow(weights, cmap="Greys", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(columns), [_token_label(t) for t in source_tokens], rotation=90)
    ax.set_yticks(range(rows), [_token_label(t) for t in output_tokens])
    ax.xaxis.tick_top()
    ax.set_xlabel("source")
    ax.set_ylabel("translation")
    _save(fig, path)


def _token_label(token: str) -> str:
    """A token as a tick label: spaces and line ends made visible."""
    return {" ": "␣", "\n": "<eos>"}.get(token, token)


def _positive(values: Sequence[float]) -> list[float]:
    """Values for a log axis: 0 and non-finite values become gaps."""
    return [v if v > 0 and math.isfinite(v) else math.nan for v in values]


def plot_curves(curves: Curves, path: str | os.PathLike, title: str = "") -> None:
    """Six panels: the loss per step and per epoch (train and validation); perplexity
    (language models) or the validation figures (classifiers, taggers); the learning
    rate; the gradient norm; the speed; the loss by epoch."""
    plt = _pyplot()
    fig, axes = plt.subplots(2, 3, figsize=(13, 7))
    s, e = curves.steps, curves.epochs
    step_x, epoch_x = s.get("step", []), e.get("step", [])

    ax = axes[0, 0]
    if "loss" in s:
        ax.plot(step_x, s["loss"], lw=0.8, alpha=0.6, label="train (batch)")
    if "train_loss" in e:
        ax.plot(epoch_x, e["train_loss"], "o-", label="train (epoch)")
    if "valid_loss" in e:
        ax.plot(epoch_x, e["valid_loss"], "s-", label="validation (epoch)")
    _finish(ax, "loss (nats)", "step", curves)

    ax = axes[0, 1]
    if curves.language_model:
        if "loss" in s:
            ax.plot(step_x, [_exp(v) for v in s["loss"]], lw=0.8, alpha=0.6, label="train (batch)")
        for name, marker in (("train_ppl", "o-"), ("valid_ppl", "s-")):
            if name in e:
                ax.plot(
                    epoch_x,
                    e[name],
                    marker,
                    label=name.replace("_ppl", "").replace("valid", "validation") + " (epoch)",
                )
        _log_if_wide(ax)
        _finish(ax, "perplexity", "step", curves)
    else:
        for name in curves.valid_figures():
            ax.plot(epoch_x, e[name], "s-", label=name.replace("_", " "))
        _finish(ax, "validation figures", "step", curves)

    ax = axes[0, 2]
    if "lr" in s or "lr" in e:
        x, y = (step_x, s["lr"]) if "lr" in s else (epoch_x, e["lr"])
        ax.step(x, y, where="post")
        _log_if_wide(ax)
    _finish(ax, "learning rate", "step", curves, legend=False)

    ax = axes[1, 0]
    if "grad_norm" in s:
        ax.plot(step_x, _positive(s["grad_norm"]), lw=0.8)
        _log_if_wide(ax)
    _finish(ax, "gradient norm (before clipping)", "step", curves, legend=False)

    ax = axes[1, 1]
    if "speed" in s:
        ax.plot(step_x, s["speed"], lw=0.8, label="running (epoch so far)")
    if "speed" in e:
        ax.plot(epoch_x, e["speed"], "o", label="epoch")
    _finish(ax, f"{curves.unit} per second", "step", curves)

    ax = axes[1, 2]
    last = _last_of_each_epoch(e.get("epoch", []))
    epochs = [e["epoch"][i] for i in last]
    if "train_loss" in e:
        ax.plot(epochs, [e["train_loss"][i] for i in last], "o-", label="train")
    if "valid_loss" in e:
        ax.plot(epochs, [e["valid_loss"][i] for i in last], "s-", label="validation")
    if curves.test is not None and "loss" in curves.test and epochs:
        ax.axhline(curves.test["loss"], color="gray", linestyle=":", label="test")
    ax.xaxis.set_major_locator(_ticker().MaxNLocator(integer=True))
    _finish(ax, "loss by epoch", "epoch", None)

    if title:
        fig.suptitle(title)
    _save(fig, path)


def _last_of_each_epoch(epochs: Sequence[float]) -> list[int]:
    """Indices of each epoch's last record: an epoch cut short by a limit and resumed has
    a partial record and then its whole one."""
    last: dict[float, int] = {}
    for i, epoch in enumerate(epochs):
        last[epoch] = i
    return sorted(last.values())


def _log_if_wide(ax: Any) -> None:
    """A log y axis when the plotted values span more than a factor of 20."""
    values = [v for line in ax.get_lines() for v in line.get_ydata() if v > 0 and math.isfinite(v)]
    if values and max(values) > 20 * min(values):
        ax.set_yscale("log")


def _ticker() -> Any:
    import matplotlib.ticker

    return matplotlib.ticker


def _exp(v: float) -> float:
    return math.exp(v) if math.isfinite(v) and v < 700 else math.nan


def _finish(ax: Any, title: str, xlabel: str, curves: Curves | None, legend: bool = True) -> None:
    if curves is not None:
        for step in curves.rollbacks:
            ax.axvline(step, color="red", alpha=0.3, lw=0.8)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.grid(True, alpha=0.3)
    if legend and ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
