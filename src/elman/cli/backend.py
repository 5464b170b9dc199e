"""--backend and --device: which engine runs a command (NumPy, or PyTorch on a CPU or a GPU),
and for ``elman train`` under ``torchrun``, the processes that train together."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from elman.cli.common import out_directory, training_run
from elman.errors import ElmanError
from elman.training import Alone, World

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


@dataclass
class Engine:
    """The backend a command runs on, and the processes of a data-parallel run."""

    backend: str  # "numpy" or "torch"
    world: World  # Alone, or the torch backend's Processes
    convert: Callable[[Any], Any] | None = None  # a NumPy model -> the same on torch
    size: int = 1  # processes training together

    @property
    def primary(self) -> bool:
        """Whether this process writes the run's files and prints (rank 0)."""
        return self.world.primary

    def model(self, numpy_model: Any) -> Any:
        """``numpy_model`` itself, or the same model on the torch backend."""
        return numpy_model if self.convert is None else self.convert(numpy_model)

    def check_batch(self, batch: int) -> None:
        """Refuse a --batch the processes cannot share equally."""
        if batch % self.size:
            raise ElmanError(
                f"--batch {batch} streams cannot be shared equally by {self.size} processes; "
                f"give a --batch that is a multiple of {self.size}, or start another number "
                "of processes."
            )

    def out_directory(self, args: argparse.Namespace) -> Path:
        """The run's --out: checked and claimed by the process that writes it (once every
        input is checked), only read by the others."""
        if self.size > 1 and not args.out:
            raise ElmanError(
                "a data-parallel run needs --out, a directory every process can read (to "
                "resume or roll back); give one."
            )
        return out_directory(args) if self.primary else Path(args.out)

    def run_directory(self, out: Path, resume: bool, overwrite: bool) -> AbstractContextManager:
        """The --out directory held for the run by the process that writes it."""
        return training_run(out, resume, overwrite) if self.primary else nullcontext()

    def close(self) -> None:
        """Leave the process group, if any."""
        close = getattr(self.world, "close", None)
        if close is not None:
            close()


def on(engine: Engine) -> str:
    """Where the model trains, for the line that introduces a run."""
    processes = f" in {engine.size} processes" if engine.size > 1 else ""
    if engine.backend == "numpy":
        return processes
    return f", on torch ({engine.world.device}){processes}"


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
        return Engine("numpy", Alone())
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


def train_on_engine(
    args: argparse.Namespace,
    new: Callable[[argparse.Namespace, Engine], Any],
    resume: Callable[[argparse.Namespace, Engine], Any],
) -> Any:
    """A training command: the engine its flags ask for, ``resume`` with --resume and
    ``new`` without, and the engine closed however that ends."""
    engine = engine_from_flags(args, parallel=True)
    try:
        return resume(args, engine) if args.resume else new(args, engine)
    finally:
        engine.close()
