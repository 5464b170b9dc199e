"""Data-parallel training: the processes ``torchrun`` starts, and what they share.

    torchrun --nproc_per_node N -m elman train --backend torch --batch B ...

Every process reads every batch of B streams and keeps its shard of them, contiguous
rows (N = 2, B = 8: rows 0-3 and 4-7); B must be a multiple of N. The loss is the sum
over every process's tokens divided by their total count (``all_reduce`` of both), and
each process's backward is that of its own sum over the same total count, so the
gradients, summed over the processes (``all_reduce`` of the flat gradient buffer), are
those of one process reading all B streams. Dropout masks are drawn for all B streams
from the one generator every process holds, each process keeping its rows: they do not
depend on N. Only the summation order does, so the weights of an N-process run equal
the one-process run's to float32 rounding.

Process 0 (the primary) writes checkpoints, metrics and the training state; the carried
state of every stream is gathered into it, so a run resumes with any N.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


class Processes:
    """This process among ``size`` training one model (rank 0 of 1: alone)."""

    def __init__(self, rank: int = 0, size: int = 1, device: torch.device | None = None) -> None:
        self.rank, self.size = rank, size
        # NCCL reduces CUDA tensors, gloo CPU ones.
        self.device = device if device is not None else torch.device("cpu")
        self.primary = rank == 0

    @classmethod
    def from_environment(cls, device: torch.device) -> Processes:
        """Join the process group torchrun describes in the environment (RANK,
        WORLD_SIZE, MASTER_ADDR, ...): NCCL between GPUs, gloo between CPUs; alone when
        not started by torchrun."""
        size = int(os.environ.get("WORLD_SIZE", "1"))
        if size == 1:
            return cls(device=device)
        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        return cls(dist.get_rank(), dist.get_world_size(), device)

    def shard(self, rows: int) -> slice:
        """The rows of a batch of ``rows`` this process reads: contiguous, as equal as
        can be (``numpy.array_split``'s), maybe none when there are fewer rows than
        processes (the last group of lines in --state reset)."""
        share, extra = divmod(rows, self.size)
        start = self.rank * share + min(self.rank, extra)
        return slice(start, start + share + (self.rank < extra))

    def any(self, flag: bool) -> bool:
        """Whether ``flag`` is true in any process (every process must call it)."""
        if self.size == 1:
            return flag
        t = torch.tensor([float(flag)], device=self.device)
        dist.all_reduce(t, dist.ReduceOp.MAX)
        return bool(t.item())

    def sum_(self, tensor: torch.Tensor) -> torch.Tensor:
        """Sum ``tensor`` over the processes, in place."""
        if self.size > 1:
            dist.all_reduce(tensor)
        return tensor

    def gather_rows(self, tensor: torch.Tensor, rows: int) -> torch.Tensor:
        """Every process's ``shard(rows)`` of ``tensor`` (..., rows of it, ...) on axis 1,
        put back together in every process: (L, rows, H) from each one's (L, b, H)."""
        if self.size == 1:
            return tensor
        width = -(-rows // self.size)  # the largest shard; smaller ones are padded
        padded = tensor.new_zeros((tensor.shape[0], width, *tensor.shape[2:]))
        padded[:, : tensor.shape[1]] = tensor
        parts = [torch.empty_like(padded) for _ in range(self.size)]
        dist.all_gather(parts, padded)
        pieces = []
        for rank, part in enumerate(parts):
            shard = Processes(rank, self.size).shard(rows)
            pieces.append(part[:, : shard.stop - shard.start])
        return torch.cat(pieces, dim=1)

    def close(self) -> None:
        """Leave the process group, if this process joined one."""
        if self.size > 1 and dist.is_initialized():
            dist.destroy_process_group()
