"""The kinds of model elman knows, as they registered themselves: found through the
``elman.kinds`` entry points of the installed packages, and loaded only when used.

A kind registers a ``Registration`` (a few strings: its name, its command family, a
line of help, and the module that implements it) under its name, in its package's
metadata::

    [project.entry-points."elman.kinds"]
    classifier = "elman.classify:REGISTRATION"

elman's own kinds register exactly so (pyproject.toml), and so can a kind from another
package: ``elman.load``, the commands and the training runs then know it, and nothing
in elman names it. The registration sits in the kind package's ``__init__``, which
imports nothing else, so that ``elman --help`` lists every kind's commands without
loading any model; ``kind(name)`` imports the implementation (``elman.runs.Kind``).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache
from importlib.metadata import entry_points
from typing import Any

from elman.errors import ElmanError

GROUP = "elman.kinds"


@dataclass(frozen=True)
class Registration:
    """What elman knows of a kind of model before loading it."""

    name: str  # what its checkpoints' config.json call it
    family: str | None  # its commands: `elman FAMILY train|eval|...`; None: `elman train|eval|...`
    help: str  # one line for `elman --help`
    implementation: str  # the module whose KIND is the kind itself (an elman.runs.Kind)
    # Whether checkpoints that name no kind are this kind's (the first elman wrote only
    # language models, without a "kind" in their config); one kind at most says so.
    reads_unnamed: bool = False


@cache
def registrations() -> dict[str, Registration]:
    """Every registered kind, by name, in the order the entry points list them."""
    found: dict[str, Registration] = {}
    for point in entry_points(group=GROUP):
        registration = point.load()
        if not isinstance(registration, Registration) or registration.name != point.name:
            raise ElmanError(
                f"the entry point {point.name} = {point.value} of group {GROUP} is not the "
                f"Registration of a kind named {point.name}; fix or uninstall the package "
                "that declares it."
            )
        found.setdefault(point.name, registration)
    if not found:
        raise ElmanError(
            "no kind of model is registered, so elman is not installed as a package; install "
            "it with pip install -e . (or pip install elman)."
        )
    return found


def named(name: str | None) -> Registration:
    """The registration of kind ``name``; None: the kind of checkpoints that name none."""
    kinds = registrations()
    if name is None:
        unnamed = [r for r in kinds.values() if r.reads_unnamed]
        if not unnamed:
            raise ElmanError("the checkpoint names no kind of model; retrain it.")
        return unnamed[0]
    if name not in kinds:
        raise ElmanError(
            f"the kind of model {name!r} is not known to this elman (it knows "
            f"{', '.join(kinds)}); upgrade elman or install the package that provides it."
        )
    return kinds[name]


def kind(name: str | None) -> Any:
    """The kind ``name`` itself (an ``elman.runs.Kind``), its implementation imported."""
    return importlib.import_module(named(name).implementation).KIND


def families() -> dict[str | None, Registration]:
    """The registered kinds by their command family (None: the top-level commands)."""
    return {registration.family: registration for registration in registrations().values()}
