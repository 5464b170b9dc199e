"""--backend and --device: which engine runs a command (NumPy, or PyTorch on a CPU or a GPU),
and for ``elman train`` under ``torchrun``, the processes that train together."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import TypeVar

from elman.errors import ElmanError
from elman.runs import Engine

BACKENDS = ("numpy", "torch")
Checkpoint = TypeVar("Checkpoint")  # a kind's checkpoint, with its ``model``
DEVICES = ("auto", "cpu", "cuda")


def add_backend_flags(parser: argparse.ArgumentParser, training: bool = False) -> None:
    """--backend and --device, as every command that runs a model has them."""
    parallel = (
        "; under torchrun --nproc_per_node N, N processes train together (data parallel)"
        if training
        else ""
    )
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        help="numpy: elman's own layers (default); torch: the same model in PyTorch, for "
        f"GPUs (pip install 'elman[torch]'){parallel}",
    )
    parser.add_argument(
        "--device",
        choices=DEVICES,
        help="with --backend torch: where the model runs; auto takes a GPU when there is one "
        "(default: auto)",
    )


def on_engine(args: argparse.Namespace, load: Callable[[str], Checkpoint]) -> Checkpoint:
    """The checkpoint in --model, read by ``load``, its model on the engine --backend and
    --device ask for."""
    engine = engine_from_flags(args)
    ckpt = load(args.model)
    ckpt.model = engine.model(ckpt.model)
    return ckpt


def started_by_torchrun() -> int:
    """How many processes torchrun started for this run (1 when it did not)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def engine_from_flags(args: argparse.Namespace, parallel: bool = False) -> Engine:
    """The engine --backend and --device ask for; ``parallel``: the command may run in
    several processes started by torchrun (the training commands).
    Several processes join torch.distributed's process group, whichever the backend (the
    NumPy engine's gradients are all-reduced through it too)."""
    backend = args.backend or "numpy"
    processes = started_by_torchrun()
    if processes > 1 and not parallel:
        raise ElmanError(
            "only the training commands run in several processes; start this command "
            "without torchrun."
        )
    if backend == "numpy" and args.device is not None:
        raise ElmanError(
            f"--device {args.device} chooses where the torch backend runs; add --backend "
            "torch or drop --device."
        )
    if backend == "numpy" and processes == 1:
        return Engine()
    try:  # the optional extra, imported only when asked for
        from elman.torch_backend import engine_parts
    except ImportError as e:
        wanted = "--backend torch" if backend == "torch" else "training in several processes"
        raise ElmanError(
            f"{wanted} needs PyTorch, which cannot be imported here ({e}); install it with "
            "pip install 'elman[torch]'."
        ) from e
    world, convert = engine_parts(backend, args.device or "auto")
    if not world.primary:  # the primary speaks for the run
        sys.stdout = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115
    return Engine(backend, world, convert, world.size)
