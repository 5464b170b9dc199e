"""Strict JSON (RFC 8259), the one way elman writes JSON for others to read
(``--json`` output, ``metrics.jsonl``, ``config.json``): a number that is not finite,
which Python's ``json`` would write as the non-standard ``NaN`` or ``Infinity``, is
written as ``null``.

>>> dumps({"perplexity": float("inf"), "loss": float("nan"), "tokens": 3})
'{"perplexity": null, "loss": null, "tokens": 3}'
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np


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
