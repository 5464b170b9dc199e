"""Every kind of model elman has, by the name its checkpoints carry: what ``elman.load``
and the commands that accept any checkpoint look a directory up in.

A new kind of model adds its package (``elman/KIND/``: model, data, task, checkpoint)
and one line here.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from elman.checkpoint import kind_of, read_config
from elman.classify import checkpoint as classify_checkpoint
from elman.errors import ElmanError
from elman.lm import checkpoint as lm_checkpoint
from elman.tag import checkpoint as tag_checkpoint
from elman.translate import checkpoint as translate_checkpoint

LOADERS: dict[str, Callable[..., Any]] = {
    lm_checkpoint.KIND: lm_checkpoint.load,
    classify_checkpoint.KIND: classify_checkpoint.load,
    tag_checkpoint.KIND: tag_checkpoint.load,
    translate_checkpoint.KIND: translate_checkpoint.load,
}


def load(directory: str | os.PathLike, dtype: np.dtype | type = np.float32) -> Any:
    """The checkpoint in ``directory``, whatever its kind: a language model's
    ``Checkpoint``, a ``ClassifierCheckpoint``, a ``TaggerCheckpoint`` or a
    ``TranslatorCheckpoint``; each has ``kind`` and ``model``."""
    kind = kind_of(read_config(Path(directory)))
    if kind not in LOADERS:
        raise ElmanError(
            f"{directory} holds a {kind} checkpoint, which this elman does not know; upgrade "
            "elman to load it."
        )
    return LOADERS[kind](directory, dtype)
