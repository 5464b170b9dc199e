"""Training curves from a run's ``metrics.jsonl``, as the training loop writes it for
every kind of model (``elman.training``):

    {"event": "step", "step", "epoch", "loss", "grad_norm", "lr", "<unit>_per_s"}
        every --log-every steps: the batch's training loss
    {"event": "epoch", "step", "epoch", "train_loss", ["train_ppl"], "lr",
     ["valid_loss", "valid_ppl" | "valid_accuracy", ...], "seconds", "<unit>_per_s", ...}
        after each epoch (or an epoch cut short by a limit: "partial")
    {"event": "save" | "rollback" | "test", ...}

``unit`` is tokens (language models), texts (classifiers) or words (taggers).
"""

from __future__ import annotations

import json
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from elman.errors import ElmanError
from elman.training import METRICS_FILE, is_number, read_metrics_records


@dataclass
class Curves:
    """A run's figures as series: ``steps[name]`` and ``epochs[name]`` are lists aligned
    with ``steps["step"]`` and ``epochs["step"]``."""

    steps: dict[str, list[float]] = field(default_factory=dict)
    epochs: dict[str, list[float]] = field(default_factory=dict)
    rollbacks: list[int] = field(default_factory=list)  # steps where training went back
    test: dict[str, Any] | None = None  # the final test record, if any
    unit: str = "tokens"  # what the speed counts

    @property
    def language_model(self) -> bool:
        """Whether the run is a language model's (it reports perplexity)."""
        return "train_ppl" in self.epochs or "valid_ppl" in self.epochs

    def valid_figures(self) -> list[str]:
        """The validation figures other than the loss and counts (perplexity, accuracy,
        macro F1, ...), as named in the records."""
        return [
            name
            for name in self.epochs
            if name.startswith("valid_") and name not in ("valid_loss", "valid_tokens")
        ]


def metrics_path(run: str | os.PathLike) -> Path:
    """A run directory or its metrics.jsonl -> the metrics file, which must exist."""
    path = Path(run)
    if path.is_dir():
        path = path / METRICS_FILE
    if not path.is_file():
        raise ElmanError(
            f"{path} does not exist; give a run directory that training wrote "
            f"{METRICS_FILE} into (the --out of elman train)."
        )
    return path


def read_metrics(run: str | os.PathLike) -> Curves:
    """The curves of the run in ``run`` (a directory or its metrics.jsonl), read by the
    training loop's own reader (``training.read_metrics_records``): a last line cut short
    (a full disk, a kill, or the run still writing it) is left out with a note on
    stderr; any other line that is not a JSON object, or a step or epoch record with a
    figure that is not a number, is refused."""
    path = metrics_path(run)
    records, note = read_metrics_records(path, _figures_are_numbers)
    if note:
        print(f"note: {note}", file=sys.stderr)
    curves = Curves()
    for record in records:
        _add(curves, record)
    if not curves.steps and not curves.epochs:
        raise ElmanError(
            f"{path} has no step or epoch records yet; train for at least --log-every steps."
        )
    return curves


def _figures_are_numbers(record: dict[str, Any]) -> str | None:
    """What is wrong with a step or epoch record whose figures are not all numbers (or
    null, or a flag such as "partial")."""
    if record.get("event") not in ("step", "epoch"):
        return None
    for name, value in record.items():
        if name != "event" and not (value is None or isinstance(value, bool) or is_number(value)):
            return f"its {name} is {json.dumps(value)[:40]}, expected a number"
    return None


def _add(curves: Curves, record: dict[str, Any]) -> None:
    event = record.get("event")
    if event == "rollback":
        curves.rollbacks.append(int(record.get("step", 0)))
        return
    if event == "test":
        curves.test = record
        return
    if event not in ("step", "epoch"):
        return  # "save" and events of later versions
    series = curves.steps if event == "step" else curves.epochs
    for name, value in record.items():
        if name.endswith("_per_s"):
            curves.unit = name.removesuffix("_per_s")
            name = "speed"
        if isinstance(value, bool) or not isinstance(value, (int, float)) and value is not None:
            continue
        series.setdefault(name, [])
    count = len(series.get("step", []))
    for name in series:
        key = f"{curves.unit}_per_s" if name == "speed" else name
        value = record.get(key)
        number = math.nan if value is None or isinstance(value, bool) else float(value)
        column = series[name]
        column.extend([math.nan] * (count - len(column)))  # a figure new in this record
        column.append(number)
