"""The translator in PyTorch modules, with the interface of ``elman.translate.model.Translator``
so that its task, decoding (greedy and beam search), evaluation and checkpoints serve both
backends."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from elman.blocks.decoder import Conditioning, State
from elman.nn import Dropout
from elman.torch_backend.distributed import Processes
from elman.torch_backend.modules import TorchModel, layer_runners, packed_run, recurrent_module
from elman.translate.model import Translator


class Attention(nn.Module):
    """``elman.nn.Attention``'s three scores of queries over a right-padded memory, in
    torch operations, its parameters plain tensors oriented as elman's (``W_a`` (Hq, Hm);
    ``W_q`` (Hq, A), ``W_k`` (Hm, A), ``v`` (A,)). Padded scores are -inf before the
    softmax, so the padding weighs exactly 0."""

    def __init__(self, score: str, query: int, memory: int, size: int) -> None:
        super().__init__()
        self.score = score
        if score == "general":
            self.W_a = nn.Parameter(torch.empty(query, memory))
        elif score == "additive":
            self.W_q = nn.Parameter(torch.empty(query, size))
            self.W_k = nn.Parameter(torch.empty(memory, size))
            self.v = nn.Parameter(torch.empty(size))

    def keys(self, memory: torch.Tensor) -> torch.Tensor:
        """What each score compares the queries with, computed once per source (a beam
        search reuses them at every step): m (dot), m W_a^T, or m W_k (additive)."""
        if self.score == "dot":
            return memory
        if self.score == "general":
            return memory @ self.W_a.T
        return memory @ self.W_k

    def forward(
        self, queries: torch.Tensor, memory: torch.Tensor, keys: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """queries (b, T, Hq), memory (b, S, Hm), its ``keys`` and lengths (b,) -> contexts
        (b, T, Hm) and weights (b, T, S)."""
        if self.score == "additive":  # v . tanh(q W_q + m W_k)
            hidden = (queries @ self.W_q)[:, :, None, :] + keys[:, None, :, :]  # (b, T, S, A)
            scores = torch.tanh(hidden) @ self.v
        else:
            scores = queries @ keys.transpose(1, 2)  # (b, T, S)
        padding = torch.arange(memory.shape[1], device=memory.device)[None, :] >= lengths[:, None]
        weights = torch.softmax(scores.masked_fill(padding[:, None, :], -torch.inf), dim=-1)
        return weights @ memory, weights


class TranslatorModule(nn.Module):
    """The source side, ``source_embed`` and ``encoder`` (one multi-layer module, maybe
    bidirectional), and the decoder's ``embed``, ``rnn`` (a peeky first layer reads
    [x; c]), ``output`` (its weight the embedding's when tied), ``bridge`` (one
    nn.Linear per layer), ``attention`` and ``combine``: the names of
    ``elman.torch_names``."""

    def __init__(self, numpy_model: Translator) -> None:
        super().__init__()
        config, translate = numpy_model.config, numpy_model.translate
        D, H, L, Hm = config.embed, config.hidden, config.layers, numpy_model.memory_size
        C = Hm if numpy_model.conditioned else 0
        self.source_embed = nn.Embedding(translate.source_vocab_size, D)
        self.encoder = recurrent_module(config.cell, D, H, L, numpy_model.bidirectional)
        self.embed = nn.Embedding(config.vocab_size, D)
        self.rnn = recurrent_module(config.cell, D + C if translate.peeky else D, H, L)
        self.output = nn.Linear(H, config.vocab_size)
        if numpy_model.tie:  # Press & Wolf 2017: one matrix, read as E and as W_y = E^T
            self.output.weight = self.embed.weight
        if translate.bridge:
            self.bridge = nn.ModuleList(nn.Linear(C, H) for _ in range(L))
        if numpy_model.attends:
            size = translate.attention_size or H
            self.attention = Attention(translate.attention, H, Hm, size)
            self.combine = nn.Linear(Hm + H, H)


class TorchTranslator(TorchModel):
    """``elman.translate.model.Translator`` on a torch device: source embedding -> encoder
    (each source read to its length, packed) -> summary (each direction's final state)
    -> conditional decoder (bridge, peeky, attention) -> cross-entropy over the real
    target tokens, with the NumPy model's weights, its dropout generator and its masks
    (drawn for every pair of the batch, in the NumPy model's order).

    Training: data-parallel processes read their shard of each batch's pairs, and the
    loss is summed and counted over every process's target tokens. Evaluation and
    decoding (``nll``, ``encode``, ``step``) are whole in each process and pure: the
    conditioning and the state they pass around are tensors on the device (the state
    as the NumPy model's, one (B, H) or (h, c) per layer, so that beam search can pick
    its rows); logits and attention weights come back as NumPy arrays.
    """

    def __init__(
        self,
        numpy_model: Translator,
        device: torch.device | str = "cpu",
        processes: Processes | None = None,
    ) -> None:
        self.config, self.translate = numpy_model.config, numpy_model.translate
        self.bidirectional = numpy_model.bidirectional
        self.conditioned, self.attends = numpy_model.conditioned, numpy_model.attends
        self.memory_size = numpy_model.memory_size
        module = TranslatorModule(numpy_model)
        super().__init__(numpy_model, module, torch.device(device), processes)
        self.encoder_runners = layer_runners(self.net.encoder)
        config = self.config
        self.dropout_inputs = numpy_model.dropout_inputs()
        self.dropouts = [
            Dropout(config.dropout, config.dropout_kind, self.dropout_rng)
            for _ in self.dropout_inputs
        ]
        self.training = False

    # Training ------------------------------------------------------------------------

    def forward(
        self,
        source: np.ndarray,
        source_lengths: np.ndarray,
        inputs: np.ndarray,
        targets: np.ndarray,
        mask: np.ndarray | None = None,
    ) -> float:
        """Mean cross-entropy per real target token over every process's pairs
        (``Translator.forward``): right-padded ``source`` (B, S) of ``source_lengths``
        (B,), decoder ``inputs`` and ``targets`` (B, T), ``mask`` (B, T) the real target
        tokens. This process reads its shard of the B pairs."""
        rows = self.processes.shard(len(source))
        masks = self._dropout_masks(source.shape[1], inputs.shape)
        total, count = torch.zeros((), device=self.device), 0
        if rows.stop > rows.start:
            mine = None if masks is None else [self._tensor(m[rows]) for m in masks]
            L = self.config.layers
            memory, summary = self._encode(
                source[rows], source_lengths[rows], None if mine is None else mine[:L]
            )
            logits, _ = self._decode(
                inputs[rows],
                summary,
                memory,
                self._ids(source_lengths[rows]),
                None if mine is None else mine[L:],
            )
            real = np.ones(targets[rows].shape, bool) if mask is None else mask[rows]
            keep = self._tensor(real)
            total = F.cross_entropy(logits[keep], self._ids(targets[rows])[keep], reduction="sum")
            count = int(real.sum())
        return self._mean_over_processes(total, count)

    def _dropout_masks(self, source_steps: int, shape: tuple[int, int]) -> list[np.ndarray] | None:
        """The masks of the encoder's layers' inputs, then the decoder's and its output's,
        for every pair of the batch, in the NumPy model's order (None when dropout is
        off)."""
        if not self.training or self.config.dropout == 0:
            return None
        B, T = shape
        steps = {"source": source_steps, "target": T}
        return [
            d.sample_mask((B, steps[side], units), self.dtype)
            for d, (side, units) in zip(self.dropouts, self.dropout_inputs, strict=True)
        ]

    # The network, shared by training and evaluation ------------------------------------

    def _encode(
        self, source: np.ndarray, lengths: np.ndarray, masks: list[torch.Tensor] | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The encoder's outputs, the memory (b, S, Hm), zeros past each length, and the
        source's summary (b, Hm): the top layer's final state of each direction (forward
        at the last real step, reverse at the first). With ``masks``, the layers one by
        one, each input masked."""
        x = self.net.source_embed(self._ids(source))  # (b, S, D)
        steps = torch.from_numpy(np.asarray(lengths, np.int64))  # on the CPU, as packing wants
        layers = [self.net.encoder] if masks is None else self.encoder_runners
        for k, layer in enumerate(layers):
            x, final = packed_run(layer, x if masks is None else x * masks[k], steps)
        directions = 2 if self.bidirectional else 1
        return x, torch.cat(list(final[-directions:]), dim=1)

    def _decode(
        self,
        inputs: np.ndarray,
        summary: torch.Tensor,
        memory: torch.Tensor,
        lengths: torch.Tensor,
        masks: list[torch.Tensor] | None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Teacher-forced logits (b, T, V) of the decoder reading ``inputs`` (b, T), and its
        attention weights (b, T, S) or None. With ``masks``: the embeddings', between the
        layers', and the output's (``blocks.decoder.Decoder``'s dropout)."""
        x = self.net.embed(self._ids(inputs))  # (b, T, D)
        if masks is not None:
            x = x * masks[0]
        if self.translate.peeky:
            x = _with_condition(x, summary)
        state = self._initial_state(summary)
        if masks is None:
            h, _ = self.net.rnn(x, _stacked(state))
        else:
            h = x
            for k, (runner, layer_state) in enumerate(zip(self.runners, state, strict=True)):
                h, _ = runner(h if k == 0 else h * masks[k], _stacked([layer_state]))
        keys = self.net.attention.keys(memory) if self.attends else None
        h, weights = self._attend(h, Conditioning(None, memory, lengths, keys))
        if masks is not None:
            h = h * masks[-1]
        return self.net.output(h), weights

    def _initial_state(self, summary: torch.Tensor) -> State:
        """Each decoder layer's initial state, as the NumPy model's: h_0 = tanh(c W + b)
        from its bridge (an LSTM's cell at 0), or zeros."""
        B, H = summary.shape[0], self.config.hidden
        zeros = summary.new_zeros(B, H)
        state = []
        for k in range(self.config.layers):
            h = torch.tanh(self.net.bridge[k](summary)) if self.translate.bridge else zeros
            state.append((h, zeros) if self.config.cell == "lstm" else h)
        return state

    def _attend(
        self, h: torch.Tensor, conditioning: Conditioning
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Luong's attentional hidden state tanh([ctx_t; h_t] W + b) of the decoder's top
        layer's outputs h (b, T, H), and the weights (b, T, S); h itself without attention."""
        if not self.attends:
            return h, None
        c = conditioning
        contexts, weights = self.net.attention(h, c.memory, c.keys, c.lengths)
        return torch.tanh(self.net.combine(torch.cat([contexts, h], dim=-1))), weights

    # Evaluation and decoding: pure, without dropout, whole in every process ------------

    @torch.no_grad()
    def nll(
        self,
        source: np.ndarray,
        source_lengths: np.ndarray,
        inputs: np.ndarray,
        targets: np.ndarray,
        mask: np.ndarray | None = None,
    ) -> tuple[float, int]:
        """(summed cross-entropy in nats, target tokens): ``forward``'s figure, pure."""
        memory, summary = self._encode(source, source_lengths, None)
        logits, _ = self._decode(inputs, summary, memory, self._ids(source_lengths), None)
        real = np.ones(targets.shape, bool) if mask is None else mask
        keep = self._tensor(real)
        total = F.cross_entropy(logits[keep], self._ids(targets)[keep], reduction="sum")
        return float(total), int(real.sum())

    @torch.no_grad()
    def encode(self, source: np.ndarray, source_lengths: np.ndarray) -> tuple[Conditioning, State]:
        """What the decoder reads for a batch of right-padded sources: its conditioning
        (the summary for a peeky decoder, the memory, its lengths and keys) and each
        layer's initial state, as tensors on the device (``Translator.encode``)."""
        memory, summary = self._encode(source, source_lengths, None)
        conditioning = Conditioning(
            summary if self.translate.peeky else None,
            memory,
            self._ids(source_lengths),
            self.net.attention.keys(memory) if self.attends else None,
        )
        return conditioning, self._initial_state(summary)

    @torch.no_grad()
    def step(
        self, ids: np.ndarray, conditioning: Conditioning, state: State
    ) -> tuple[np.ndarray, np.ndarray | None, State]:
        """One target token per sentence (``Translator.step``): ids (B,) -> logits (B, V)
        and attention weights (B, S) or None, as NumPy arrays, and the new state."""
        x = self.net.embed(self._ids(ids))[:, None]  # (B, 1, D)
        if self.translate.peeky:
            x = _with_condition(x, conditioning.condition)
        h, final = self.net.rnn(x, _stacked(state))
        h, weights = self._attend(h, conditioning)
        logits = self.net.output(h[:, 0]).cpu().numpy()
        return logits, None if weights is None else weights[:, 0].cpu().numpy(), _layers(final)


def _with_condition(x: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
    """[x_t; c] at every step: x (b, T, D), c (b, C) -> (b, T, D + C)."""
    return torch.cat([x, condition[:, None, :].expand(-1, x.shape[1], -1)], dim=-1)


def _stacked(state: State) -> Any:
    """A state of one (b, H) or (h, c) per layer as torch's (L, b, H), or (h, c) of them."""
    if isinstance(state[0], tuple):
        return tuple(torch.stack(parts) for parts in zip(*state, strict=True))
    return torch.stack(state)


def _layers(state: Any) -> State:
    """torch's stacked state back as one (b, H) or (h, c) per layer."""
    if isinstance(state, tuple):
        return list(zip(*state, strict=True))
    return list(state)
