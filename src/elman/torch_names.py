"""elman's parameter names and PyTorch's, side by side: strings only, no torch here.

The PyTorch modules that compute what an elman model computes are named after the
model's own parts: ``embed`` (``nn.Embedding``), ``rnn`` (one multi-layer
``nn.RNN``/``nn.LSTM``/``nn.GRU``, ``batch_first``, bidirectional when the encoder is),
``output`` (``nn.Linear``, or ``nn.AdaptiveLogSoftmaxWithLoss`` with ``head_bias``), and
likewise ``char_embed`` and ``char_rnn`` for a tagger's characters, ``source_embed``
and ``encoder`` for a translator's source side. A conditional decoder's
(``elman.blocks.decoder``) bridges are an ``nn.ModuleList`` of ``nn.Linear``
(``bridge``), Luong's attentional layer an ``nn.Linear`` (``combine``), and attention
has no PyTorch module: its parameters are plain tensors oriented as elman's
(``attention``). A weight of elman's is PyTorch's transposed: elman computes x W,
PyTorch x Wᵀ.

    embed.W                 embed.weight
    rnn.k.W_x               rnn.weight_ih_lk          (transposed)
    rnn.k.W_h               rnn.weight_hh_lk          (transposed)
    rnn.k.b                 rnn.bias_ih_lk            and rnn.bias_hh_lk held at 0
    rnn.k.b_x, rnn.k.b_h    rnn.bias_ih_lk, rnn.bias_hh_lk      (GRU: r multiplies b_hn)
    rnn.k.reverse.W_x       rnn.weight_ih_lk_reverse  (and so on for a bidirectional layer)
    output.W, output.b      output.weight (transposed), output.bias
    output.head.W           output.head.weight        (transposed)
    output.tail.k.proj      output.tail.k.0.weight    (transposed)
    output.tail.k.out       output.tail.k.1.weight    (transposed)
    bridge.k.W, bridge.k.b  bridge.k.weight (transposed), bridge.k.bias
    combine.W, combine.b    combine.weight (transposed), combine.bias
    attention.W_a           attention.W_a             (and W_q, W_k, v: as they are)

A peeky decoder's first layer reads [x; c], so its W_x holds the condition's rows
below the embedding's, as PyTorch's weight_ih_l0 holds them beside: the same mapping.

The RNN's and LSTM's two biases are redundant: elman keeps their sum, so PyTorch's
``bias_hh`` is set to zero (``zeroed_biases``) and its gradient, equal to ``bias_ih``'s,
is not used. The tests, the benchmarks, the PyTorch backend and the ONNX export all
read this one table.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple

ATTENTION_KEYS = ("W_a", "W_q", "W_k", "v")


class TorchParameter(NamedTuple):
    name: str  # PyTorch's parameter name, as in ``module.named_parameters()``
    transposed: bool  # whether elman's array is the transpose of PyTorch's


_RECURRENT = re.compile(
    r"^(?P<module>\w+)\.(?P<layer>\d+)(?:\.(?P<direction>forward|reverse))?\.(?P<key>\w+)$"
)
_RECURRENT_KEYS = {
    "W_x": ("weight_ih", True),
    "W_h": ("weight_hh", True),
    "b": ("bias_ih", False),
    "b_x": ("bias_ih", False),
    "b_h": ("bias_hh", False),
}
_TAIL = re.compile(r"^output\.tail\.(?P<k>\d+)\.(?P<part>proj|out)$")
_LINEAR = re.compile(r"^(?P<module>bridge\.\d+|combine)\.(?P<key>W|b)$")
_FIXED = {
    "output.W": TorchParameter("output.weight", True),
    "output.b": TorchParameter("output.bias", False),
    "output.head.W": TorchParameter("output.head.weight", True),
    "output.head.b": TorchParameter("output.head.bias", False),
    **{f"attention.{key}": TorchParameter(f"attention.{key}", False) for key in ATTENTION_KEYS},
}


def torch_name(name: str) -> TorchParameter:
    """The PyTorch parameter that holds elman's parameter ``name`` (see the module doc)."""
    if name in _FIXED:
        return _FIXED[name]
    linear = _LINEAR.match(name)
    if linear:
        weight = linear["key"] == "W"
        return TorchParameter(f"{linear['module']}.{'weight' if weight else 'bias'}", weight)
    module, _, key = name.rpartition(".")
    if key == "W" and "." not in module:  # an embedding: embed, char_embed
        return TorchParameter(f"{module}.weight", False)
    tail = _TAIL.match(name)
    if tail:
        index = 0 if tail["part"] == "proj" else 1
        return TorchParameter(f"output.tail.{tail['k']}.{index}.weight", True)
    recurrent = _RECURRENT.match(name)
    if recurrent and recurrent["key"] in _RECURRENT_KEYS:
        prefix, transposed = _RECURRENT_KEYS[recurrent["key"]]
        suffix = "_reverse" if recurrent["direction"] == "reverse" else ""
        torch = f"{recurrent['module']}.{prefix}_l{recurrent['layer']}{suffix}"
        return TorchParameter(torch, transposed)
    raise KeyError(f"elman parameter {name!r} has no PyTorch counterpart in this table")


def torch_names(names: Iterable[str]) -> dict[str, TorchParameter]:
    """``torch_name`` of each of ``names`` (a model's ``params``, say)."""
    return {name: torch_name(name) for name in names}


def zeroed_biases(names: Iterable[str]) -> list[str]:
    """PyTorch's ``bias_hh`` of every RNN or LSTM layer among ``names``: elman keeps one
    bias ``b`` = b_ih + b_hh, so the PyTorch model's ``bias_hh`` must be held at zero."""
    zeroed = []
    for name in names:
        recurrent = _RECURRENT.match(name)
        if recurrent and recurrent["key"] == "b" and not _LINEAR.match(name):  # not bridge.k.b
            zeroed.append(torch_name(name).name.replace(".bias_ih_", ".bias_hh_"))
    return zeroed
