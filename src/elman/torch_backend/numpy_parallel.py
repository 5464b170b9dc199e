"""The NumPy engine trained data-parallel: its own layers in every process, joined by
torch.distributed's all-reduce (gloo) on its flat gradient buffer.

    torchrun --nproc_per_node N -m elman train --backend numpy --batch B ...

Each process runs ``elman.lm.model.LanguageModel`` on its shard of the B streams, as
the torch backend does (``elman.torch_backend.distributed``): the loss is the sum over
every process's tokens divided by their total count, the dropout masks are drawn for all
B streams and each process keeps its rows (``nn.Dropout.shard``), and the gradient of
the process's mean is rescaled to its share of the global mean, then summed over the
processes in place (``torch.from_numpy`` shares the array's memory: no copy).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from elman.errors import ElmanError
from elman.lm.model import LanguageModel
from elman.nn.products import Gemm
from elman.torch_backend.distributed import Processes


class DataParallelLanguageModel:
    """``model`` training with the other processes of ``processes``; the interface of
    ``LanguageModel`` that the loop, the task, evaluation and checkpoints use."""

    def __init__(self, model: LanguageModel, processes: Processes) -> None:
        self.model, self.processes = model, processes
        self.config, self.names = model.config, list(model.params)
        self.flat_params, self.flat_grads = model.flat_params, model.flat_grads
        self.arrays, self.dropout_rng = model.arrays, model.dropout_rng
        self.parameter_count = model.flat_params.size
        self.loss_sum, self.loss_count = 0.0, 0.0
        self._local_count = 0.0
        self._rows, self._empty = 0, False

    @property
    def params(self) -> dict[str, np.ndarray]:
        return self.model.params

    @property
    def training(self) -> bool:
        return self.model.training

    @training.setter
    def training(self, mode: bool) -> None:
        self.model.training = mode

    @property
    def adaptive(self) -> bool:
        return self.model.adaptive

    @property
    def recurrent(self) -> list:
        return self.model.recurrent

    def use_gemm(self, gemm: Gemm) -> None:
        """Each process chooses (``elman.gemm``): the gradients they sum may then be
        rounded differently, while every process applies the same sum."""
        self.model.use_gemm(gemm)

    def zero_grad(self) -> None:
        self.model.zero_grad()

    def forward(
        self, inputs: np.ndarray, targets: np.ndarray, mask: np.ndarray | None = None
    ) -> float:
        """The mean loss over every process's streams, this process reading its shard."""
        rows, B = self.processes.shard(len(inputs)), len(inputs)
        for dropout in self.model.dropouts:
            dropout.shard = (B, rows)
        self._rows, self._empty = B, rows.stop == rows.start
        if self._empty:  # nothing to read; the dropout generator moves on all the same
            self._skip_masks(inputs.shape)
            total, count = 0.0, 0.0
        else:
            part = None if mask is None else mask[rows]
            self.model.forward(inputs[rows], targets[rows], part)
            total, count = self.model.loss_sum, float(self.model.loss_count)
        self._local_count = count
        self.loss_sum, self.loss_count = self._sum([total, count])
        return self.loss_sum / max(self.loss_count, 1.0)

    def backward(self) -> None:
        """The gradient of the global mean loss, summed over the processes in place."""
        if not self._empty:
            self.model.backward()  # of this process's mean: rescaled to its share
            self.flat_grads *= self._local_count / max(self.loss_count, 1.0)
        self.processes.sum_(torch.from_numpy(self.flat_grads))

    def _skip_masks(self, shape: tuple[int, ...]) -> None:
        if self.model.training and self.config.dropout > 0:
            B, T = shape
            sizes = [self.config.embed] + [self.config.hidden] * self.config.layers
            for dropout, size in zip(self.model.dropouts, sizes, strict=True):
                dropout.sample_mask((0, T, size), self.model.dtype)

    def _sum(self, values: list[float]) -> list[float]:
        return self.processes.sum_(torch.tensor(values, dtype=torch.float64)).tolist()

    def reset_state(self, rows: np.ndarray | None = None) -> None:
        """Start over from zeros: every stream, or those where ``rows`` (B,) is True."""
        self.model.reset_state(None if rows is None else rows[self.processes.shard(len(rows))])

    @property
    def state(self) -> list:
        """Each layer's carried state for every stream, gathered from every process."""
        local = self.model.state
        if all(s is None for s in local) and not self._empty:
            return local
        H, lstm = self.config.hidden, self.config.cell == "lstm"
        zeros = np.zeros((0, H), self.model.dtype)
        if self._empty:
            local = [(zeros, zeros) if lstm else zeros] * self.config.layers
        parts = [tuple(s) if lstm else (s,) for s in local]
        whole = []
        for j in range(len(parts[0])):
            stacked = torch.from_numpy(np.stack([p[j] for p in parts]))
            whole.append(self.processes.gather_rows(stacked, self._rows).numpy())
        if lstm:
            return [(whole[0][k], whole[1][k]) for k in range(self.config.layers)]
        return list(whole[0])

    @state.setter
    def state(self, state: list) -> None:
        known = [s for s in state if s is not None]
        if not known:
            self.model.reset_state()
            return
        rows = (known[0][0] if isinstance(known[0], tuple) else known[0]).shape[0]
        mine = self.processes.shard(rows)
        self._rows, self._empty = rows, mine.stop == mine.start
        self.model.state = [
            None if s is None else (tuple(a[mine] for a in s) if isinstance(s, tuple) else s[mine])
            for s in state
        ]

    def nll(
        self,
        inputs: np.ndarray,
        targets: np.ndarray,
        mask: np.ndarray | None = None,
        state: Any = None,
    ) -> tuple[float, int, Any]:
        """``LanguageModel.nll`` over every process's streams, this process reading its shard."""
        rows = self.processes.shard(len(inputs))
        total, count = 0.0, 0
        if rows.stop > rows.start:
            part = None if mask is None else mask[rows]
            total, count, state = self.model.nll(inputs[rows], targets[rows], part, state)
        total, count = self._sum([total, float(count)])
        return total, int(count), state

    def logits(self, inputs: np.ndarray, state: list | None = None) -> tuple[np.ndarray, list]:
        return self.model.logits(inputs, state)

    def step(self, token_ids: np.ndarray, state: list | None) -> tuple[np.ndarray, list]:
        if state is None:
            state = self.model.initial_state(len(token_ids))
        return self.model.step(token_ids, state)

    def initial_state(self, batch: int) -> list:
        return self.model.initial_state(batch)

    def prepare(self, batch: int, condition: np.ndarray | None = None) -> None:
        """Zeros, as None: ``nll`` reads each process's shard of the streams from it.
        A condition is refused, as ``LanguageModel.prepare`` refuses it."""
        self.model.prepare(0, condition)


def data_parallel(numpy_model: Any, processes: Processes) -> DataParallelLanguageModel:
    """``numpy_model`` trained with the other processes (language models only)."""
    if not isinstance(numpy_model, LanguageModel):
        raise ElmanError(
            "the NumPy engine trains only language models in several processes; give "
            "--backend torch to train this model data-parallel."
        )
    return DataParallelLanguageModel(numpy_model, processes)
