"""Attention heatmaps: which source tokens each output token was written from, as a PNG
(matplotlib, the optional extra ``[plot]``)."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence

import numpy as np

from elman.errors import ElmanError

PLOT_EXTRA = "pip install 'elman[plot]'"


def require_matplotlib() -> None:
    """Refuse at once, before any work, when matplotlib is missing."""
    if importlib.util.find_spec("matplotlib") is None:
        raise ElmanError(
            f"--show-attention draws with matplotlib, which is not installed; {PLOT_EXTRA} "
            "(or pip install matplotlib)."
        )


def save_attention(
    path: str | os.PathLike[str],
    weights: np.ndarray,
    source_tokens: Sequence[str],
    output_tokens: Sequence[str],
) -> None:
    """Write ``weights`` (one row per output token, one column per source token, each row
    summing to 1) as a heatmap: output tokens down the side, source tokens along the top."""
    require_matplotlib()
    import matplotlib  # the optional extra [plot]: only this function needs it

    matplotlib.use("Agg")  # files only, no display
    from matplotlib import pyplot as plt

    rows, columns = weights.shape
    figure, axes = plt.subplots(figsize=(1.5 + 0.35 * columns, 1.2 + 0.35 * rows))
    axes.imshow(weights, cmap="Greys", vmin=0.0, vmax=1.0, aspect="auto")
    axes.set_xticks(range(columns), [_label(t) for t in source_tokens], rotation=90)
    axes.set_yticks(range(rows), [_label(t) for t in output_tokens])
    axes.xaxis.tick_top()
    axes.set_xlabel("source")
    axes.set_ylabel("translation")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _label(token: str) -> str:
    """A token as a tick label: spaces and line ends made visible."""
    return {" ": "␣", "\n": "<eos>"}.get(token, token)
