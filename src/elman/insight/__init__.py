"""Looking inside a trained model: what its hidden units follow, how far back its gradient
reaches, how its training went. An optional leaf: nothing else in elman imports it but
the command line (``elman inspect``, ``elman train --plot``), and its pictures need
matplotlib (``pip install 'elman[plot]'``), imported only when one is drawn.

    units.py      every unit's value at every token; text features; ranking; saturation
    report.py     the units report: a self-contained index.html and units.json
    gradients.py  ||dL_T / dh_(T-k)|| from the model's own backward
    curves.py     training curves from a run's metrics.jsonl
    plots.py      PNG pictures of the gradients and the curves (matplotlib)

A notebook session::

    import elman
    from elman import insight
    ckpt = elman.load("runs/char")
    text = elman.read_text("input.txt")
    summary = insight.units_report(ckpt.model, ckpt.tokenizer, text, "report")
    summary["features"]["in_quotes"][0]      # the unit that best follows quotes
    ids = ckpt.tokenizer.encode(text)
    result = insight.gradient_norms(ckpt.model, ids, ckpt.tokenizer, steps=50)
    result.ratio(50)                         # gradient left 50 steps back, relative to 0
    insight.plot_curves(insight.read_metrics("runs/char"), "curves.png")
"""

from elman.insight.curves import Curves, read_metrics
from elman.insight.gradients import (
    GradientNorms,
    gradient_norms,
    scale_recurrent,
    spectral_radius,
)
from elman.insight.plots import plot_curves, plot_gradients, require_matplotlib
from elman.insight.report import units_report
from elman.insight.units import (
    FEATURES,
    Activations,
    TokenText,
    UnitScore,
    activations,
    gate_saturation,
    rank_units,
    read_tokens,
    text_features,
)

__all__ = [
    "FEATURES",
    "Activations",
    "Curves",
    "GradientNorms",
    "TokenText",
    "UnitScore",
    "activations",
    "gate_saturation",
    "gradient_norms",
    "plot_curves",
    "plot_gradients",
    "rank_units",
    "read_metrics",
    "read_tokens",
    "require_matplotlib",
    "scale_recurrent",
    "spectral_radius",
    "text_features",
    "units_report",
]
