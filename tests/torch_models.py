"""elman's conditional decoder and translator written again with PyTorch modules and
autograd, parameters named as ``elman.torch_names`` says, so that ``load_into`` and
``grads_from`` (tests/torch_reference.py) carry weights and gradients across.

Imported only where torch is installed (``pytest.importorskip("torch")`` first); the
translation benchmark loads this file too, for the same model in PyTorch eager.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


def recurrent(cell: str, input_size: int, hidden: int, layers: int, **options) -> nn.Module:
    """PyTorch's multi-layer module for an elman cell name, batch first."""
    if cell == "lstm":
        return nn.LSTM(input_size, hidden, layers, batch_first=True, **options)
    if cell == "gru":
        return nn.GRU(input_size, hidden, layers, batch_first=True, **options)
    nonlinearity = "relu" if cell == "rnn-relu" else "tanh"
    return nn.RNN(
        input_size, hidden, layers, nonlinearity=nonlinearity, batch_first=True, **options
    )


class TorchAttention(nn.Module):
    """The three scores of ``elman.nn.Attention`` in torch ops, over a right-padded memory
    whose padding is masked with -inf. Raw parameters, oriented as elman's."""

    def __init__(self, score: str, query: int, memory: int, size: int) -> None:
        super().__init__()
        self.score = score
        if score == "general":
            self.W_a = nn.Parameter(torch.zeros(query, memory))
        elif score == "additive":
            self.W_q = nn.Parameter(torch.zeros(query, size))
            self.W_k = nn.Parameter(torch.zeros(memory, size))
            self.v = nn.Parameter(torch.zeros(size))

    def forward(self, queries, memory, lengths):
        """queries (B, T, Hq), memory (B, S, Hm), lengths (B,) -> contexts, weights."""
        if self.score == "dot":
            scores = queries @ memory.transpose(1, 2)
        elif self.score == "general":
            scores = queries @ self.W_a @ memory.transpose(1, 2)
        else:
            hidden = (queries @ self.W_q)[:, :, None, :] + (memory @ self.W_k)[:, None, :, :]
            scores = torch.tanh(hidden) @ self.v
        padding = torch.arange(memory.shape[1])[None, :] >= lengths[:, None]
        weights = torch.softmax(scores.masked_fill(padding[:, None, :], float("-inf")), dim=-1)
        return weights @ memory, weights


class TorchDecoder(nn.Module):
    """``elman.blocks.decoder.Decoder``: embed, rnn (a peeky first layer reads [x; c]),
    bridge (nn.Linear per layer, h_0 = tanh, an LSTM's c_0 = 0), attention and combine
    (Luong's tanh([ctx; h] W + b)), output (tied to embed when asked)."""

    def __init__(
        self,
        cell: str,
        vocab: int,
        embed: int,
        hidden: int,
        layers: int = 1,
        condition: int = 0,
        bridge: bool = False,
        peeky: bool = False,
        attention: str = "none",
        memory: int = 0,
        attention_size: int = 0,
        tie: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.cell, self.layers, self.hidden, self.peeky = cell, layers, hidden, peeky
        self.embed = nn.Embedding(vocab, embed)
        self.rnn = recurrent(
            cell, embed + (condition if peeky else 0), hidden, layers, dropout=dropout
        )
        self.output = nn.Linear(hidden, vocab)
        if tie:
            self.output.weight = self.embed.weight
        self.bridge = (
            nn.ModuleList(nn.Linear(condition, hidden) for _ in range(layers)) if bridge else None
        )
        self.attention = self.combine = None
        if attention != "none":
            self.attention = TorchAttention(attention, hidden, memory, attention_size or hidden)
            self.combine = nn.Linear(memory + hidden, hidden)
        self.drop = nn.Dropout(dropout)

    def logits(self, inputs, condition=None, memory=None, lengths=None):
        """(logits (B, T, V), attention weights or None)."""
        B, T = inputs.shape
        x = self.drop(self.embed(inputs))
        if self.peeky:
            x = torch.cat([x, condition[:, None, :].expand(B, T, condition.shape[1])], dim=-1)
        if self.bridge is not None:
            h0 = torch.stack([torch.tanh(bridge(condition)) for bridge in self.bridge])
        else:
            h0 = x.new_zeros(self.layers, B, self.hidden)
        state = (h0, torch.zeros_like(h0)) if self.cell == "lstm" else h0
        hs, _ = self.rnn(x, state)
        weights = None
        if self.attention is not None:
            contexts, weights = self.attention(hs, memory, lengths)
            hs = torch.tanh(self.combine(torch.cat([contexts, hs], dim=-1)))
        return self.output(self.drop(hs)), weights

    def forward(self, inputs, targets, mask, condition=None, memory=None, lengths=None):
        """Mean cross-entropy over the real positions."""
        logits, _ = self.logits(inputs, condition, memory, lengths)
        losses = F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="none"
        )
        mask = mask.reshape(-1).to(losses.dtype)
        return (losses * mask).sum() / mask.sum()


class TorchTranslator(TorchDecoder):
    """``elman.translate.model.Translator``: the decoder's modules (``TorchDecoder``, at
    the top level as elman's names are), source_embed and encoder (packed, so each
    sequence is read to its length; bidirectional when asked). The summary of the source
    (the top layer's final state of each direction) is the decoder's condition, and the
    encoder's outputs are its memory."""

    def __init__(
        self,
        cell: str,
        source_vocab: int,
        target_vocab: int,
        embed: int,
        hidden: int,
        layers: int = 1,
        bidirectional: bool = False,
        bridge: bool = True,
        peeky: bool = False,
        attention: str = "general",
        attention_size: int = 0,
        tie: bool = False,
        dropout: float = 0.0,
    ) -> None:
        summary = hidden * (2 if bidirectional else 1)
        super().__init__(
            cell,
            target_vocab,
            embed,
            hidden,
            layers,
            condition=summary,
            bridge=bridge,
            peeky=peeky,
            attention=attention,
            memory=summary,
            attention_size=attention_size,
            tie=tie,
            dropout=dropout,
        )
        self.source_embed = nn.Embedding(source_vocab, embed)
        self.encoder = recurrent(
            cell, embed, hidden, layers, bidirectional=bidirectional, dropout=dropout
        )
        self.bidirectional = bidirectional

    def encode(self, source, lengths):
        """(memory (B, S, Hm), summary (B, Hm)) of right-padded source ids."""
        x = self.drop(self.source_embed(source))
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        outputs, state = self.encoder(packed)
        memory, _ = pad_packed_sequence(outputs, batch_first=True, total_length=source.shape[1])
        h_n = state[0] if self.cell == "lstm" else state  # (layers * directions, B, H)
        summary = torch.cat([h_n[-2], h_n[-1]], dim=-1) if self.bidirectional else h_n[-1]
        return memory, summary

    def translation_loss(self, source, lengths, inputs, targets, mask):
        """Mean cross-entropy of the targets given the source."""
        memory, summary = self.encode(source, lengths)
        return self(inputs, targets, mask, summary, memory, lengths)
