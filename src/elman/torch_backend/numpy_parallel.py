"""The NumPy engine trained data-parallel: its own layers in every process, joined by
torch.distributed's all-reduce (gloo) on its flat gradient buffer.

    torchrun --nproc_per_node N -m elman train --backend numpy --batch B ...
    torchrun --nproc_per_node N -m elman translate train --backend numpy --batch B ...

Each process runs the NumPy model (``elman.lm.model.LanguageModel``,
``elman.translate.model.Translator``) on its shard of the batch's B streams or pairs, as
the torch backend does (``elman.torch_backend.distributed``): the loss is the sum over
every process's tokens divided by their total count, the dropout masks are drawn for
the whole batch and each process keeps its rows (``nn.Dropout.shard``), and the gradient
of the process's mean is rescaled to its share of the global mean (its tokens over
everyone's: the shards of a batch of pairs hold different numbers of target tokens),
then summed over the processes in place (``torch.from_numpy`` shares the array's memory:
no copy).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from elman.blocks.decoder import Conditioning, State
from elman.errors import ElmanError
from elman.lm.model import LanguageModel
from elman.nn.products import Gemm
from elman.torch_backend.distributed import Processes
from elman.translate.model import Translator


class DataParallel:
    """What a NumPy model training with the other processes of ``processes`` needs beyond
    the model itself: its flat buffers and parameters, training mode, its shard of each
    batch, and the loss and gradient summed over the processes."""

    def __init__(self, model: Any, processes: Processes) -> None:
        self.model, self.processes = model, processes
        self.config, self.names = model.config, list(model.params)
        self.flat_params, self.flat_grads = model.flat_params, model.flat_grads
        self.arrays, self.dropout_rng = model.arrays, model.dropout_rng
        self.parameter_count = model.flat_params.size
        self.loss_sum, self.loss_count = 0.0, 0.0
        self._local_count = 0.0
        self._empty = False

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

    def _shard(self, rows: int) -> slice:
        """This process's rows of a batch of ``rows``; every dropout layer draws masks for
        all of them and keeps these."""
        mine = self.processes.shard(rows)
        for dropout in self.model.dropouts:
            dropout.shard = (rows, mine)
        self._empty = mine.stop == mine.start
        return mine

    def _mean_over_processes(self, total: float, count: float) -> float:
        """The mean loss over every process's shard, from this process's summed loss and
        its count; ``loss_sum`` and ``loss_count`` hold the sums over the processes."""
        self._local_count = count
        self.loss_sum, self.loss_count = self._sum([total, count])
        return self.loss_sum / max(self.loss_count, 1.0)

    def backward(self) -> None:
        """The gradient of the global mean loss, summed over the processes in place: each
        process's gradient of its own mean, weighted by its share of the tokens."""
        if not self._empty:
            self.model.backward()  # of this process's mean: rescaled to its share
            self.flat_grads *= self._local_count / max(self.loss_count, 1.0)
        self.processes.sum_(torch.from_numpy(self.flat_grads))

    def _sum(self, values: list[float]) -> list[float]:
        return self.processes.sum_(torch.tensor(values, dtype=torch.float64)).tolist()


class DataParallelLanguageModel(DataParallel):
    """``model`` training with the other processes of ``processes``; the interface of
    ``LanguageModel`` that the loop, the task, evaluation and checkpoints use."""

    def __init__(self, model: LanguageModel, processes: Processes) -> None:
        super().__init__(model, processes)
        self._rows = 0

    @property
    def adaptive(self) -> bool:
        return self.model.adaptive

    def forward(
        self, inputs: np.ndarray, targets: np.ndarray, mask: np.ndarray | None = None
    ) -> float:
        """The mean loss over every process's streams, this process reading its shard."""
        rows = self._shard(len(inputs))
        self._rows = len(inputs)
        if self._empty:  # nothing to read; the dropout generator moves on all the same
            self._skip_masks(inputs.shape)
            return self._mean_over_processes(0.0, 0.0)
        part = None if mask is None else mask[rows]
        self.model.forward(inputs[rows], targets[rows], part)
        return self._mean_over_processes(self.model.loss_sum, float(self.model.loss_count))

    def _skip_masks(self, shape: tuple[int, ...]) -> None:
        if self.model.training and self.config.dropout > 0:
            B, T = shape
            sizes = [self.config.embed] + [self.config.hidden] * self.config.layers
            for dropout, size in zip(self.model.dropouts, sizes, strict=True):
                dropout.sample_mask((0, T, size), self.model.dtype)

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


class DataParallelTranslator(DataParallel):
    """``model`` training with the other processes of ``processes``; the interface of
    ``Translator`` that the loop, the task, decoding, evaluation and checkpoints use.
    Evaluation and decoding are the model's own, whole in every process."""

    def __init__(self, model: Translator, processes: Processes) -> None:
        super().__init__(model, processes)
        self.translate, self.attends = model.translate, model.attends

    def forward(
        self,
        source: np.ndarray,
        source_lengths: np.ndarray,
        inputs: np.ndarray,
        targets: np.ndarray,
        mask: np.ndarray | None = None,
    ) -> float:
        """The mean loss per target token over every process's pairs, this process reading
        its shard (``Translator.forward``)."""
        rows = self._shard(len(source))
        if self._empty:  # nothing to read; the dropout generator moves on all the same
            if self.model.training and self.config.dropout > 0:
                steps = {"source": source.shape[1], "target": inputs.shape[1]}
                for dropout, (side, units) in zip(
                    self.model.dropouts, self.model.dropout_inputs(), strict=True
                ):
                    dropout.sample_mask((0, steps[side], units), self.model.dtype)
            return self._mean_over_processes(0.0, 0.0)
        part = None if mask is None else mask[rows]
        self.model.forward(source[rows], source_lengths[rows], inputs[rows], targets[rows], part)
        return self._mean_over_processes(self.model.loss_sum, self.model.loss_count)

    def nll(
        self,
        source: np.ndarray,
        source_lengths: np.ndarray,
        inputs: np.ndarray,
        targets: np.ndarray,
        mask: np.ndarray | None = None,
    ) -> tuple[float, int]:
        return self.model.nll(source, source_lengths, inputs, targets, mask)

    def encode(self, source: np.ndarray, source_lengths: np.ndarray) -> tuple[Conditioning, State]:
        return self.model.encode(source, source_lengths)

    def step(
        self, ids: np.ndarray, conditioning: Conditioning, state: State
    ) -> tuple[np.ndarray, np.ndarray | None, State]:
        return self.model.step(ids, conditioning, state)


def data_parallel(numpy_model: Any, processes: Processes) -> DataParallel:
    """``numpy_model`` trained with the other processes (language models and translators)."""
    if isinstance(numpy_model, LanguageModel):
        return DataParallelLanguageModel(numpy_model, processes)
    if isinstance(numpy_model, Translator):
        return DataParallelTranslator(numpy_model, processes)
    raise ElmanError(
        "the NumPy engine trains only language models and translators in several "
        "processes; give --backend torch to train this model data-parallel."
    )
