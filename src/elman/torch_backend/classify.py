"""The classifier in PyTorch modules, with the interface of ``elman.classify.model.Classifier``
so that its task, evaluation, prediction and checkpoints serve both backends."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from elman.classify.data import LabeledBatch
from elman.classify.model import Classifier
from elman.nn import Dropout
from elman.torch_backend.distributed import Processes
from elman.torch_backend.modules import TorchModel, packed_run, recurrent_module


class ClassifierModule(nn.Module):
    """``embed`` -> ``rnn`` (one multi-layer, maybe bidirectional, module) -> ``output``
    (nn.Linear): the names of ``elman.torch_names``."""

    def __init__(self, numpy_model: Classifier) -> None:
        super().__init__()
        config = numpy_model.config
        self.embed = nn.Embedding(config.vocab_size, config.embed)
        self.rnn = recurrent_module(
            config.cell, config.embed, config.hidden, config.layers, config.bidirectional
        )
        self.output = nn.Linear(config.output_size, numpy_model.classes)


class TorchClassifier(TorchModel):
    """``elman.classify.model.Classifier`` on a torch device: embedding -> encoder (each
    text read to its own length, packed) -> pooling -> dropout -> affine -> cross-entropy,
    with the NumPy model's weights, its dropout generator and its masks (drawn for every
    text of the batch, as ``elman.torch_backend.lm.TorchLanguageModel`` draws them).
    Data-parallel processes read their shard of each batch's texts."""

    def __init__(
        self,
        numpy_model: Classifier,
        device: torch.device | str = "cpu",
        processes: Processes | None = None,
    ) -> None:
        self.config, self.classes = numpy_model.config, numpy_model.classes
        self.pooling = numpy_model.pooling.mode
        super().__init__(
            numpy_model, ClassifierModule(numpy_model), torch.device(device), processes
        )
        rng = self.dropout_rng
        config = self.config
        self.dropouts = [
            Dropout(config.dropout, config.dropout_kind, rng) for _ in range(config.layers)
        ]
        self.dropouts.append(Dropout(config.dropout, "standard", rng))  # on the pooled vector
        self.training = False

    def forward(self, batch: LabeledBatch) -> float:
        """Mean cross-entropy of the batch's labels over every process's texts, weighted
        by ``batch.weights`` if given (sum_i w_i loss_i / sum_i w_i)."""
        rows = self.processes.shard(len(batch.labels))
        masks = self._dropout_masks(batch.ids.shape)
        total, count = torch.zeros((), device=self.device), 0.0
        if rows.stop > rows.start:
            mine = None if masks is None else [self._tensor(m[rows]) for m in masks]
            lengths = batch.lengths[rows]
            pooled = self._encode(batch.ids[rows], lengths, None if mine is None else mine[:-1])
            if mine is not None:
                pooled = pooled * mine[-1]
            losses = F.cross_entropy(
                self.net.output(pooled), self._ids(batch.labels[rows]), reduction="none"
            )
            if batch.weights is None:
                total, count = losses.sum(), float(len(losses))
            else:
                weights = self._tensor(batch.weights[rows].astype(self.dtype))
                total = (losses * weights).sum()
                count = float(batch.weights[rows].sum(dtype=np.float64))
        return self._mean_over_processes(total, count)

    @torch.no_grad()
    def logits(self, ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Token ids (B, T) right-padded to lengths (B,) -> class logits (B, K); pure."""
        return self.net.output(self._encode(ids, lengths, None)).cpu().numpy()

    def _dropout_masks(self, shape: tuple[int, ...]) -> list[np.ndarray] | None:
        """Each layer's input mask, then the pooled vector's, for every text, in the NumPy
        model's order (None when dropout is off)."""
        if not self.training or self.config.dropout == 0:
            return None
        B, T = shape
        config = self.config
        sizes = [config.embed] + [config.output_size] * (config.layers - 1)
        masks = [
            d.sample_mask((B, T, n), self.dtype)
            for d, n in zip(self.dropouts[:-1], sizes, strict=True)
        ]
        return [*masks, self.dropouts[-1].sample_mask((B, config.output_size), self.dtype)]

    def _encode(
        self, ids: np.ndarray, lengths: np.ndarray, masks: list[torch.Tensor] | None
    ) -> torch.Tensor:
        """The pooled encoder output (b, H or 2H) of right-padded texts; with ``masks``,
        the layers one by one, each input masked."""
        x = self.net.embed(self._ids(ids))  # (b, T, D)
        T = x.shape[1]
        steps = torch.from_numpy(np.asarray(lengths, np.int64))  # on the CPU, as packing wants
        layers = [self.net.rnn] if masks is None else self.runners
        for k, layer in enumerate(layers):
            x, final = packed_run(layer, x if masks is None else x * masks[k], steps)
        if self.pooling == "final":  # each direction's last state: (dirs, b, H) -> (b, dirs H)
            directions = 2 if self.config.bidirectional else 1
            return torch.cat(list(final[-directions:]), dim=1)
        counts = self._ids(lengths)[:, None]  # (b, 1)
        if self.pooling == "mean":
            return x.sum(dim=1) / counts.to(x.dtype)
        real = torch.arange(T, device=self.device)[None, :] < counts  # (b, T)
        return x.masked_fill(~real[:, :, None], -torch.inf).amax(dim=1)
