"""Flat buffers as torch tensors on a device, and choosing that device."""

from __future__ import annotations

import os

import numpy as np
import torch

from elman.errors import ElmanError

DEVICES = ("auto", "cpu", "cuda")


class TorchArrays:
    """The operations the training loop and the optimisers make on a model's flat buffers
    (``elman.nn.parameters.NumpyArrays``), for tensors of ``dtype`` (float32 unless a
    test asks for float64) on ``device``."""

    backend = "torch"  # recorded in the training state, which only this backend resumes

    def __init__(self, device: torch.device, dtype: np.dtype | type = np.float32) -> None:
        self.device = device
        self.dtype = np.dtype(dtype)

    def zeros_like(self, a: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(a)

    def copy(self, a: torch.Tensor) -> torch.Tensor:
        return a.clone()

    def sqrt(self, a: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        return torch.sqrt(a, out=out)

    def norm(self, a: torch.Tensor) -> float:
        """The L2 norm of a flat buffer (on a GPU, this waits for it)."""
        return float(torch.sqrt(torch.dot(a, a)))

    def to_numpy(self, a: torch.Tensor) -> np.ndarray:
        return a.detach().cpu().numpy()

    def from_numpy(self, a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.asarray(a, self.dtype)).to(self.device)


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """The device --device names: "cpu", "cuda" (this process's GPU under torchrun, by
    its LOCAL_RANK) or "auto" (a GPU when there is one).

    On a GPU, cuDNN and the other kernels are asked for their deterministic
    algorithms (``torch.use_deterministic_algorithms(True, warn_only=True)``, cuDNN
    deterministic and not benchmarking, cuBLAS's fixed workspace), so that a resumed
    run repeats the interrupted one as far as torch allows; a kernel that has no
    deterministic form warns once instead of stopping the run."""
    if name not in DEVICES:
        raise ElmanError(f"--device must be one of {', '.join(DEVICES)}, got {name!r}.")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ElmanError(
            "--device cuda needs a GPU that PyTorch can use, and this one has none (or a "
            "CPU-only torch); use --device cpu."
        )
    # Read by cuBLAS when it starts: a fixed workspace makes its products repeatable.
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(True, warn_only=True)
    index = local_rank % torch.cuda.device_count()
    torch.cuda.set_device(index)
    return torch.device("cuda", index)
