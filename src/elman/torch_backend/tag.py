"""The tagger in PyTorch modules, with the interface of ``elman.tag.model.Tagger`` so that
its task, evaluation, prediction and checkpoints serve both backends."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from elman.nn import Dropout
from elman.tag.data import TaggedBatch
from elman.tag.model import Tagger
from elman.torch_backend.distributed import Processes
from elman.torch_backend.modules import TorchModel, packed_run, recurrent_module


class TaggerModule(nn.Module):
    """``embed``, ``char_embed`` and ``char_rnn`` (a bidirectional layer over each word's
    characters) when the tagger has character features, ``rnn`` and ``output``: the names
    of ``elman.torch_names``."""

    def __init__(self, numpy_model: Tagger) -> None:
        super().__init__()
        config, tagger = numpy_model.config, numpy_model.tagger_config
        self.embed = nn.Embedding(config.vocab_size, config.embed)
        if tagger.chars:
            chars = numpy_model.char_embedding.params["W"].shape[0]
            self.char_embed = nn.Embedding(chars, tagger.char_embed)
            self.char_rnn = recurrent_module(
                config.cell, tagger.char_embed, tagger.char_hidden, 1, bidirectional=True
            )
        self.rnn = recurrent_module(
            config.cell,
            config.embed + tagger.char_features,
            config.hidden,
            config.layers,
            config.bidirectional,
        )
        self.output = nn.Linear(config.output_size, numpy_model.tags)


class TorchTagger(TorchModel):
    """``elman.tag.model.Tagger`` on a torch device: word embedding and character features
    (each distinct word of the batch read once, forwards and backwards) -> encoder ->
    dropout -> affine at every word -> cross-entropy over the real words, with the NumPy
    model's weights, dropout generator and masks. Data-parallel processes read their
    shard of each batch's sentences (and each computes the batch's character features)."""

    def __init__(
        self,
        numpy_model: Tagger,
        device: torch.device | str = "cpu",
        processes: Processes | None = None,
    ) -> None:
        self.config, self.tagger_config = numpy_model.config, numpy_model.tagger_config
        self.tags = numpy_model.tags
        super().__init__(numpy_model, TaggerModule(numpy_model), torch.device(device), processes)
        rng = self.dropout_rng
        config = self.config
        # The encoder's layers' inputs, then its outputs; the character layer has none.
        self.dropouts = [
            Dropout(config.dropout, config.dropout_kind, rng) for _ in range(config.layers + 1)
        ]
        self.training = False

    def forward(self, batch: TaggedBatch) -> float:
        """Mean cross-entropy per real word of the batch's tags, over every process's
        sentences."""
        rows = self.processes.shard(len(batch.lengths))
        masks = self._dropout_masks(batch.ids.shape)
        total, count = torch.zeros((), device=self.device), 0
        if rows.stop > rows.start:
            mine = None if masks is None else [self._tensor(m[rows]) for m in masks]
            hs = self._encode(batch, rows, None if mine is None else mine[:-1])
            if mine is not None:
                hs = hs * mine[-1]
            real = self._tensor(batch.mask[rows])  # (b, T)
            logits = self.net.output(hs)[real]  # (words, K)
            total = F.cross_entropy(logits, self._ids(batch.tags[rows])[real], reduction="sum")
            count = int(batch.mask[rows].sum())
        return self._mean_over_processes(total, count)

    @torch.no_grad()
    def logits(self, batch: TaggedBatch) -> np.ndarray:
        """Tag logits (B, T, K) of every word of the batch; pure."""
        everything = slice(0, len(batch.lengths))
        return self.net.output(self._encode(batch, everything, None)).cpu().numpy()

    def _dropout_masks(self, shape: tuple[int, ...]) -> list[np.ndarray] | None:
        """The encoder's input masks, then its output's, for every sentence, in the NumPy
        model's order (None when dropout is off)."""
        if not self.training or self.config.dropout == 0:
            return None
        B, T = shape
        config = self.config
        first = config.embed + self.tagger_config.char_features
        sizes = [first] + [config.output_size] * config.layers
        return [
            d.sample_mask((B, T, n), self.dtype) for d, n in zip(self.dropouts, sizes, strict=True)
        ]

    def _encode(
        self, batch: TaggedBatch, rows: slice, masks: list[torch.Tensor] | None
    ) -> torch.Tensor:
        """The encoder's outputs (b, T, H or 2H) for ``rows`` of the batch; with ``masks``,
        the layers one by one, each input masked."""
        x = self.net.embed(self._ids(batch.ids[rows]))  # (b, T, D)
        if self.tagger_config.chars:
            cs = self.net.char_embed(self._ids(batch.chars))  # (U, C, Dc)
            char_lengths = torch.from_numpy(np.asarray(batch.char_lengths, np.int64))
            _, final = packed_run(self.net.char_rnn, cs, char_lengths)  # (2, U, Hc)
            features = torch.cat([final[0], final[1]], dim=1)  # (U, 2 Hc)
            x = torch.cat([x, features[self._ids(batch.forms[rows])]], dim=-1)
        lengths = torch.from_numpy(np.asarray(batch.lengths[rows], np.int64))
        layers = [self.net.rnn] if masks is None else self.runners
        for k, layer in enumerate(layers):
            x, _ = packed_run(layer, x if masks is None else x * masks[k], lengths)
        return x
