"""The training state that ``elman train --resume`` continues from, in one file.

``DIR/resume.safetensors`` holds the weights, the best weights so far, the
optimiser's arrays and each layer's carried hidden state; its header holds, as
JSON, where training stands (epoch, batch, step, best perplexity, ...), the
optimiser's numbers and the dropout generator's state. One file written
atomically, so a crash leaves the previous state or the new one, never half.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from elman.checkpoint import read_tensors, write_tensors
from elman.errors import ElmanError
from elman.model import LanguageModel
from elman.optim import SGD, Adam

RESUME_FILE = "resume.safetensors"


def save_resume(
    path: Path,
    model: LanguageModel,
    optimizer: SGD | Adam,
    best_params: np.ndarray,
    progress: dict[str, Any],
    average: np.ndarray | None = None,
) -> None:
    """Write everything needed to continue training exactly where it stands
    (``average``: the running average of the weights, when averaging has begun)."""
    arrays, numbers = optimizer.state()
    tensors = {"params": model.flat_params, "best_params": best_params}
    if average is not None:
        tensors["average_params"] = average
    tensors |= {f"optimizer.{name}": a for name, a in arrays.items()}
    layout = []  # per layer: None (zeros), or how many arrays its state has
    for i, state in enumerate(model.state):
        parts = None if state is None else (state if isinstance(state, tuple) else (state,))
        layout.append(None if parts is None else [len(parts), isinstance(state, tuple)])
        for j, part in enumerate(parts or ()):
            tensors[f"state.{i}.{j}"] = part
    header = {
        "progress": progress,
        "optimizer": numbers,
        "state_layout": layout,
        "dropout_rng": model.dropouts[0].rng.bit_generator.state,
    }
    write_tensors(path, tensors, {"resume": json.dumps(header)})


def load_resume(
    path: Path, model: LanguageModel, optimizer: SGD | Adam
) -> tuple[np.ndarray, dict[str, Any], np.ndarray | None]:
    """Restore the model, its carried state, the optimiser and the dropout generator
    from ``path``; returns the best weights so far, the progress record and the
    average of the weights (None before averaging begins)."""
    if not path.is_file():
        raise ElmanError(
            f"{path} is missing, so there is no training state to resume; start a new run "
            "with --out instead."
        )
    tensors, metadata = read_tensors(path)
    try:
        header = json.loads(metadata["resume"])
        expected = {"params", "best_params"} | {f"optimizer.{n}" for n in optimizer.state()[0]}
        if not expected <= set(tensors) or tensors["params"].shape != model.flat_params.shape:
            raise KeyError("tensors")
        model.flat_params[...] = tensors["params"]
        arrays = {name: tensors[f"optimizer.{name}"] for name in optimizer.state()[0]}
        optimizer.load_state(arrays, header["optimizer"])
        states = []
        for i, layer in enumerate(header["state_layout"]):
            if layer is None:
                states.append(None)
                continue
            count, is_tuple = layer
            parts = tuple(tensors[f"state.{i}.{j}"].astype(model.dtype) for j in range(count))
            states.append(parts if is_tuple else parts[0])
        model.state = states
        model.dropouts[0].rng.bit_generator.state = header["dropout_rng"]
        average = tensors.get("average_params")
        return (
            tensors["best_params"].astype(model.dtype),
            header["progress"],
            None if average is None else average.astype(model.dtype),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise ElmanError(
            f"{path} does not hold a training state for this model ({e}); it belongs to "
            "another run or another version of elman, so start a new run with --out."
        ) from e
