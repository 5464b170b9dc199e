"""Strict JSON (RFC 8259), the one way elman writes JSON for others to read
(``--json`` output, ``metrics.jsonl``, ``config.json``): a number that is not finite,
which Python's ``json`` would write as the non-standard ``NaN`` or ``Infinity``, is
written as ``null``. And the one reader of the JSON lines elman appends
(``read_json_lines``), with its rule for a last line cut short.

>>> dumps({"perplexity": float("inf"), "loss": float("nan"), "tokens": 3})
'{"perplexity": null, "loss": null, "tokens": 3}'
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from elman.errors import ElmanError


def finite_or_none(value: Any) -> Any:
    """``value`` with every float that is not finite replaced by None, through dicts,
    lists and tuples; numpy scalars become Python numbers."""
    if isinstance(value, dict):
        return {key: finite_or_none(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def dumps(value: Any, **options: Any) -> str:
    """Strict JSON of ``value`` (non-finite numbers as null); ``options`` as ``json.dumps``."""
    return json.dumps(finite_or_none(value), allow_nan=False, **options)


@dataclass(frozen=True)
class JsonLines:
    """The JSON objects of a file written one line at a time, and whether its last line
    was cut short (and left out)."""

    records: list[dict[str, Any]]
    torn: bool  # the last line was not a whole JSON object


def read_json_lines(
    path: str | os.PathLike, check: Callable[[dict[str, Any]], str | None] | None = None
) -> JsonLines:
    """The JSON objects of ``path``, one per line, as elman appends them (``metrics.jsonl``).

    A record is appended in one write, so a write cut short (a full disk, a kill, a run
    still writing) can only leave the last line partial: a last line that is not a whole
    JSON object is left out, and ``torn`` says so. Any other line that is not one, or any
    record for which ``check`` names a problem, means the file was damaged or edited, and
    is refused, naming its line. Blank lines are skipped."""
    path = Path(path)
    lines = path.read_bytes().split(b"\n")
    last = max((n for n, line in enumerate(lines) if line.strip()), default=-1)
    records: list[dict[str, Any]] = []
    for n, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            record = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            record, problem = None, f"it is not JSON: {e}"
        else:
            problem = None if isinstance(record, dict) else "it is not a JSON object"
        if problem is not None and n == last:
            return JsonLines(records, torn=True)
        if problem is None and check is not None:
            problem = check(record)
        if problem is not None:
            raise ElmanError(
                f"line {n + 1} of {path} is damaged ({problem}); restore the file, or remove "
                "that line."
            )
        records.append(record)
    return JsonLines(records, torn=False)
