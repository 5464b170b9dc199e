"""Every kind of model's checkpoints and runs, whatever the kind: ``load`` a checkpoint
directory as the kind its config names, ``resume`` its interrupted run. The kinds are
the registered ones (``elman.registry``); this module names none of them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from elman import registry, runs
from elman.checkpoint import kind_of, read_config


def load(directory: str | os.PathLike, dtype: np.dtype | type = np.float32) -> Any:
    """The checkpoint in ``directory``, whatever its kind: a language model's
    ``Checkpoint``, a ``ClassifierCheckpoint``, a ``TaggerCheckpoint``, a
    ``TranslatorCheckpoint``, ...; each has ``kind`` and ``model``."""
    return registry.kind(kind_of(read_config(Path(directory)))).load(directory, dtype)


def resume(directory: str | os.PathLike, progress: bool = True, **inputs: Any) -> runs.Run:
    """Continue the interrupted run in ``directory`` (of any kind) exactly where it
    stopped, reading the files it recorded; ``inputs``, by role, give what it read from
    memory again (``train=elman.runs.Text(text)``, or a kind's own values such as a
    translator's pairs) or a file in place of one (with the same content)."""
    return runs.resume(directory, inputs, progress=progress)
