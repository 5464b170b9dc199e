"""Names a package offers without importing the modules that define them until one is
used (PEP 562), so that ``import elman`` and ``elman --help`` stay light: NumPy and the
kinds of model load when something needs them.

In a package's ``__init__``::

    __getattr__, __dir__ = exports(__name__, {"elman.lm.model": "LanguageModel", ...})
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def exports(
    package: str, modules: dict[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list]]:
    """A module ``__getattr__`` that, for each module of ``modules`` and each of its
    names (separated by spaces), imports the module and takes the name from it; and a
    ``__dir__`` that lists the names."""
    names = {name: module for module, listed in modules.items() for name in listed.split()}

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(names[name]), name)

    def __dir__() -> list[str]:
        return sorted(names)

    return __getattr__, __dir__
