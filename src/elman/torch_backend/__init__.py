"""The PyTorch backend: elman's models as PyTorch modules, on a CPU or a GPU, trained by the
same loop (``elman.training.Trainer``), alone or data-parallel under ``torchrun``.

    arrays.py          TorchArrays: what the loop and the optimisers do to the flat buffers,
                       for tensors on a device; choosing the device
    distributed.py     Processes: this process's rank among those torchrun started, the
                       shard of a batch it reads, all-reduce and gather
    lm.py              TorchLanguageModel: the language model, with the NumPy model's interface
    classify.py        TorchClassifier: the classifier, likewise
    tag.py             TorchTagger: the tagger, likewise
    translate.py       TorchTranslator: the translator, likewise
    numpy_parallel.py  the NumPy engine's language model and translator trained
                       data-parallel (gloo)
    modules.py         what they share: recurrent modules, weights in and out by
                       elman.torch_names, the flat parameter buffer

Each model is built from a NumPy model (``elman.lm.model.LanguageModel``, ...), whose
weights it copies through the one table of PyTorch names (``elman.torch_names``): the
same config and seed give the same initial weights on either backend, a checkpoint
written by one loads in the other, and the NumPy model's dropout generator draws the
same masks. Its parameters are views into one flat tensor, as the NumPy models' are
into one flat array, so the optimisers, clipping, averaging and the training state are
the loop's own, on tensors.

This package, the tests and the benchmarks are the only places that import torch; the
core install does not need it (``pip install 'elman[torch]'``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial
from typing import Any

import torch

from elman.classify.model import Classifier
from elman.errors import ElmanError
from elman.lm.model import LanguageModel
from elman.tag.model import Tagger
from elman.torch_backend.arrays import resolve_device
from elman.torch_backend.classify import TorchClassifier
from elman.torch_backend.distributed import Processes
from elman.torch_backend.lm import TorchLanguageModel
from elman.torch_backend.numpy_parallel import data_parallel
from elman.torch_backend.tag import TorchTagger
from elman.torch_backend.translate import TorchTranslator
from elman.translate.model import Translator


def on_torch(
    numpy_model: Any, device: torch.device | str = "cpu", processes: Processes | None = None
) -> Any:
    """The torch model of a NumPy model (its weights and dropout generator), on ``device``."""
    if isinstance(numpy_model, LanguageModel):
        return TorchLanguageModel(numpy_model, device, processes)
    if isinstance(numpy_model, Classifier):
        return TorchClassifier(numpy_model, device, processes)
    if isinstance(numpy_model, Tagger):
        return TorchTagger(numpy_model, device, processes)
    if isinstance(numpy_model, Translator):
        return TorchTranslator(numpy_model, device, processes)
    raise ElmanError(
        f"the torch backend does not run a {type(numpy_model).__name__} yet; drop --backend "
        "torch to use the NumPy engine."
    )


def engine_parts(backend: str, device: str) -> tuple[Processes, Callable[[Any], Any]]:
    """For ``--backend`` ("numpy" or "torch") and ``--device``: the processes torchrun
    started (one, without torchrun) and what turns a NumPy model into the one they train,
    the NumPy engine's data-parallel language model or the model on torch."""
    if backend == "numpy":
        world = Processes.from_environment(torch.device("cpu"))
        return world, partial(data_parallel, processes=world)
    where = resolve_device(device, int(os.environ.get("LOCAL_RANK", "0")))
    world = Processes.from_environment(where)
    return world, partial(on_torch, device=where, processes=world)
