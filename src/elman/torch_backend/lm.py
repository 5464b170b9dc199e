"""The language model in PyTorch modules, with the interface of ``elman.lm.model.LanguageModel``
so that its task, evaluation, generation, scoring and checkpoints serve both backends."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from elman.config import ModelConfig
from elman.lm.model import LanguageModel
from elman.nn import Dropout
from elman.torch_backend.distributed import Processes
from elman.torch_backend.modules import (
    TorchModel,
    recurrent_module,
)


class LanguageModule(nn.Module):
    """``embed`` (nn.Embedding) -> ``rnn`` (one multi-layer nn.RNN/LSTM/GRU, batch first)
    -> ``output`` (nn.Linear, its weight the embedding's when tied, or
    nn.AdaptiveLogSoftmaxWithLoss with a head bias): the names ``elman.torch_names`` gives
    elman's parameters, so ``state_dict()`` is what plain PyTorch code would load."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        V, D, H = config.vocab_size, config.embed, config.hidden
        self.embed = nn.Embedding(V, D)
        self.rnn = recurrent_module(config.cell, D, H, config.layers)
        self.output: nn.Linear | nn.AdaptiveLogSoftmaxWithLoss
        if config.softmax == "adaptive":
            cutoffs = config.adaptive_cutoffs()
            self.output = nn.AdaptiveLogSoftmaxWithLoss(
                H, V, cutoffs, div_value=config.div_value, head_bias=True
            )
        else:
            self.output = nn.Linear(H, V)
            if config.tie:  # Press & Wolf 2017: one matrix, read as E and as W_y = E^T
                self.output.weight = self.embed.weight


class TorchLanguageModel(TorchModel):
    """``elman.lm.model.LanguageModel`` on a torch device: the same equations, parameters,
    dropout and carried state, trained by the same loop (``elman.training``).

    Built from a NumPy model, whose weights it copies (``numpy_model`` initialised from
    a seed, or loaded from a checkpoint) and whose dropout generator it takes over: the
    masks are drawn as the NumPy model draws them, for every stream of the batch, so
    the two backends train alike and a data-parallel process keeps its rows of the same
    masks (``elman.torch_backend.distributed``).

    Inputs and outputs are NumPy arrays, as the NumPy model's: token ids in, losses as
    floats, logits as float32 arrays. The state ``nll``, ``logits`` and ``step`` pass
    around is the torch modules' own, on the device (None: zeros); ``state``, the
    carried state the training state saves, is NumPy, gathered from every process.
    """

    def __init__(
        self,
        numpy_model: LanguageModel,
        device: torch.device | str = "cpu",
        processes: Processes | None = None,
    ) -> None:
        self.config = config = numpy_model.config
        super().__init__(numpy_model, LanguageModule(config), torch.device(device), processes)
        self.dropouts = [
            Dropout(config.dropout, config.dropout_kind, self.dropout_rng)
            for _ in range(config.layers + 1)
        ]
        self.training = False
        self._state: Any = None  # carried: (L, b, H), or (h, c) for an LSTM; None: zeros
        self._rows = 0  # streams in the whole batch that made _state

    @property
    def adaptive(self) -> bool:
        return self.config.softmax == "adaptive"

    # Training ----------------------------------------------------------------------

    def forward(
        self, inputs: np.ndarray, targets: np.ndarray, mask: np.ndarray | None = None
    ) -> float:
        """Mean cross-entropy (nats per token) of predicting ``targets`` from ``inputs``,
        both (B, T), over every process's streams; ``loss_sum`` and ``loss_count`` hold
        the summed loss and the tokens. This process reads its shard of the B streams
        and carries their state to the next batch."""
        rows = self.processes.shard(len(inputs))
        masks = self._dropout_masks(inputs.shape)  # every stream's, as the NumPy model's
        if rows.stop > rows.start:
            x = self.net.embed(self._ids(inputs[rows]))  # (b, T, D)
            if masks is None:
                h, state = self.net.rnn(x, self._state)
            else:
                mine = [self._tensor(m[rows]) for m in masks]
                h, state = self._layer_by_layer(x, mine[:-1], self._state)
                h = h * mine[-1]
            total, count = self._nll(h, targets[rows], None if mask is None else mask[rows])
            self._state = _detach(state)
        else:  # fewer streams than processes: nothing to read, but every collective to join
            total, count = torch.zeros((), device=self.device), 0
            self._state = self._empty_state()
        self._rows = len(inputs)
        # Truncated BPTT: the carried state is detached, so backward stops at the chunk's
        # first step.
        return self._mean_over_processes(total, count)

    def _dropout_masks(self, shape: tuple[int, ...]) -> list[np.ndarray] | None:
        """The masks before each layer and before the output, for all B streams, drawn in
        the NumPy model's order (None when dropout is off)."""
        if not self.training or self.config.dropout == 0:
            return None
        B, T = shape
        sizes = [self.config.embed] + [self.config.hidden] * self.config.layers
        return [
            d.sample_mask((B, T, size), self.dtype)
            for d, size in zip(self.dropouts, sizes, strict=True)
        ]

    def _layer_by_layer(self, x: torch.Tensor, masks: list[torch.Tensor], state: Any) -> tuple:
        """The recurrent layers one at a time, each input masked: (b, T, H), final states."""
        finals = []
        for k, (runner, mask) in enumerate(zip(self.runners, masks, strict=True)):
            x, final = runner(x * mask, _layer(state, k))
            finals.append(final)
        if isinstance(finals[0], tuple):
            return x, tuple(torch.cat(parts) for parts in zip(*finals, strict=True))
        return x, torch.cat(finals)

    def _nll(
        self, h: torch.Tensor, targets: np.ndarray, mask: np.ndarray | None
    ) -> tuple[torch.Tensor, int]:
        """(summed cross-entropy, tokens) of ``targets`` (b, T) from the top layer's
        outputs ``h`` (b, T, H), padding (``mask`` False) left out."""
        h = h.reshape(-1, h.shape[-1])
        t = self._ids(targets).reshape(-1)
        if mask is not None:
            keep = torch.from_numpy(mask.reshape(-1)).to(self.device)
            h, t = h[keep], t[keep]
        if len(t) == 0:
            return h.sum() * 0, 0
        if self.adaptive:
            return -self.net.output(h, t).output.sum(), len(t)
        return F.cross_entropy(self.net.output(h), t, reduction="sum"), len(t)

    # The carried state --------------------------------------------------------------

    def reset_state(self, rows: np.ndarray | None = None) -> None:
        """Start over from zeros: every stream, or only those where the (B,) boolean
        ``rows`` is True (of which this process holds its shard)."""
        if rows is None or self._state is None:
            self._state = None
            return
        keep = torch.from_numpy(~rows[self.processes.shard(len(rows))]).to(self.device)
        keep = keep.to(torch.float32)[None, :, None]  # (1, b, 1) over (layers, b, H)
        parts = self._state if isinstance(self._state, tuple) else (self._state,)
        kept = tuple(p * keep for p in parts)
        self._state = kept if isinstance(self._state, tuple) else kept[0]

    @property
    def state(self) -> list:
        """Each layer's carried state for every stream (None: zeros), as NumPy arrays,
        gathered from every process: (B, H), or (h, c) for an LSTM."""
        if self._state is None:
            return [None] * self.config.layers
        parts = self._state if isinstance(self._state, tuple) else (self._state,)
        whole = [self.processes.gather_rows(p, self._rows).cpu().numpy() for p in parts]
        if isinstance(self._state, tuple):
            return [tuple(w[k] for w in whole) for k in range(self.config.layers)]
        return list(whole[0])

    @state.setter
    def state(self, state: list) -> None:
        known = [s for s in state if s is not None]
        if not known:
            self._state = None
            return
        first = known[0][0] if isinstance(known[0], tuple) else known[0]
        rows, lstm = first.shape[0], self.config.cell == "lstm"
        zeros = np.zeros((rows, self.config.hidden), self.dtype)
        layers = [s if s is not None else ((zeros, zeros) if lstm else zeros) for s in state]
        mine = self.processes.shard(rows)

        def stacked(arrays: list[np.ndarray]) -> torch.Tensor:
            return torch.from_numpy(np.stack(arrays)[:, mine].astype(self.dtype)).to(self.device)

        if lstm:
            self._state = tuple(stacked([s[j] for s in layers]) for j in range(2))
        else:
            self._state = stacked(layers)
        self._rows = rows

    def _empty_state(self) -> Any:
        empty = torch.zeros(self.config.layers, 0, self.config.hidden, device=self.device)
        return (empty, empty.clone()) if self.config.cell == "lstm" else empty

    # Evaluation and generation: pure, without dropout ----------------------------------

    @torch.no_grad()
    def nll(
        self,
        inputs: np.ndarray,
        targets: np.ndarray,
        mask: np.ndarray | None = None,
        state: Any = None,
    ) -> tuple[float, int, Any]:
        """(summed cross-entropy in nats, tokens scored, state after the chunk) over every
        process's streams, this process reading its shard (``LanguageModel.nll``)."""
        rows = self.processes.shard(len(inputs))
        if rows.stop > rows.start:
            h, state = self.net.rnn(self.net.embed(self._ids(inputs[rows])), state)
            total, count = self._nll(h, targets[rows], None if mask is None else mask[rows])
        else:
            total, count, state = torch.zeros((), device=self.device), 0, None
        sums = self.processes.sum_(
            torch.stack([total.double(), torch.tensor(float(count), device=self.device)])
        )
        return float(sums[0]), int(sums[1]), state

    @torch.no_grad()
    def logits(self, inputs: np.ndarray, state: Any = None) -> tuple[np.ndarray, Any]:
        """Token ids (B, T) -> next-token logits (B, T, V) as float32 and the state after
        them (``LanguageModel.logits``: log-probabilities with the adaptive softmax)."""
        h, state = self.net.rnn(self.net.embed(self._ids(inputs)), state)
        return self._logits(h).cpu().numpy(), state

    @torch.no_grad()
    def step(self, token_ids: np.ndarray, state: Any) -> tuple[np.ndarray, Any]:
        """One generation step: ids (B,) and the state -> logits (B, V), the new state."""
        logits, state = self.logits(np.asarray(token_ids)[:, None], state)
        return logits[:, 0], state

    def initial_state(self, batch: int) -> Any:
        return None  # zeros, to the torch modules

    prepare = LanguageModel.prepare  # the initial state, refusing a condition

    def _logits(self, h: torch.Tensor) -> torch.Tensor:
        if self.adaptive:
            return self.net.output.log_prob(h.reshape(-1, h.shape[-1])).reshape(*h.shape[:-1], -1)
        return self.net.output(h)


def _layer(state: Any, k: int) -> Any:
    """Layer k's part of a stacked state (L, b, H), or of (h, c)."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s[k : k + 1] for s in state)
    return state[k : k + 1]


def _detach(state: Any) -> Any:
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()
