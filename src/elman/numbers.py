"""How elman turns losses into figures and writes them: one rule for each.

- ``perplexity(loss)`` is exp(loss), or ``inf`` once that no longer fits a float
  (a loss above about 709.8 nats), so a model that scores a text very badly gets
  the figure ``inf`` instead of a crash.
- ``dumps`` writes strict JSON (RFC 8259): a number that is not finite, which
  Python's ``json`` would write as the non-standard ``NaN`` or ``Infinity``, is
  written as ``null``. Every JSON elman writes for others to read (``--json``
  output, ``metrics.jsonl``, ``config.json``) goes through it.

>>> perplexity(1.0) == math.e, perplexity(1e6)
(True, inf)
>>> dumps({"perplexity": perplexity(1e6), "loss": float("nan"), "tokens": 3})
'{"perplexity": null, "loss": null, "tokens": 3}'
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

# exp(x) overflows a float64 above log(max float) = 709.78...
_LARGEST_EXPONENT = math.log(np.finfo(np.float64).max)


def perplexity(loss: float) -> float:
    """exp(loss): the perplexity of a mean cross-entropy in nats; ``inf`` where it would
    overflow, NaN for a NaN loss."""
    return math.exp(loss) if loss <= _LARGEST_EXPONENT else math.inf


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
