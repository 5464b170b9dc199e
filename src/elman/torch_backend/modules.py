"""What every torch model of elman's shares: its recurrent modules, elman's weights in and
out of them by the one table of names (``elman.torch_names``), and its parameters packed
into one flat tensor."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from elman.torch_backend.arrays import TorchArrays
from elman.torch_backend.distributed import Processes
from elman.torch_names import torch_names, zeroed_biases


def recurrent_module(
    cell: str, input_size: int, hidden: int, layers: int, bidirectional: bool = False
) -> nn.RNNBase:
    """The ``nn.RNN`` (tanh or ReLU), ``nn.LSTM`` or ``nn.GRU`` of elman's ``cell``: batch
    first, with PyTorch's gate order, which elman's layers use too."""
    shape = {"num_layers": layers, "batch_first": True, "bidirectional": bidirectional}
    if cell == "lstm":
        return nn.LSTM(input_size, hidden, **shape)
    if cell == "gru":
        return nn.GRU(input_size, hidden, **shape)
    nonlinearity = "relu" if cell == "rnn-relu" else "tanh"
    return nn.RNN(input_size, hidden, nonlinearity=nonlinearity, **shape)


def layer_runners(rnn: nn.RNNBase) -> list[nn.RNNBase]:
    """One single-layer module per layer of ``rnn``, holding that layer's parameters (the
    same ``Parameter`` objects), to run the layers one by one with dropout between them
    as elman does. Plain list, not submodules: the parameters keep their one name."""
    runners = []
    for k in range(rnn.num_layers):
        size = rnn.input_size if k == 0 else rnn.hidden_size * (2 if rnn.bidirectional else 1)
        extra = {"nonlinearity": rnn.nonlinearity} if isinstance(rnn, nn.RNN) else {}
        runner = type(rnn)(
            size, rnn.hidden_size, 1, batch_first=True, bidirectional=rnn.bidirectional, **extra
        )
        for name in runner._flat_weights_names:
            setattr(runner, name, getattr(rnn, name.replace("_l0", f"_l{k}")))
        runners.append(runner)
    return runners


def packed_run(
    layer: nn.RNNBase, x: torch.Tensor, lengths: torch.Tensor, state: Any = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``layer`` over right-padded ``x`` (b, T, in) from ``state`` (None: zeros), each row
    read to its length (a reverse direction starting at its last step): the outputs
    (b, T, out), zeros past each length, and the final hidden states (layers x
    directions, b, H), an LSTM's cells left out. ``lengths`` (b,) stay on the CPU, as
    packing wants them."""
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out, final = layer(packed, state)
    out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    return out, final[0] if isinstance(final, tuple) else final


def copy_weights(module: nn.Module, params: dict[str, np.ndarray]) -> None:
    """Copy elman's ``params`` into ``module``'s parameters, transposed where the table
    says, and zero the ``bias_hh`` elman folds into its one bias."""
    tparams = dict(module.named_parameters())
    with torch.no_grad():
        for name, (tname, transposed) in torch_names(params).items():
            value = params[name].T if transposed else params[name]
            tparams[tname].copy_(torch.from_numpy(np.ascontiguousarray(value)))
        for tname in zeroed_biases(params):
            tparams[tname].zero_()


def elman_weights(module: nn.Module, names: Iterable[str]) -> dict[str, np.ndarray]:
    """``module``'s parameters as arrays under elman's ``names`` (what a checkpoint holds)."""
    tparams = dict(module.named_parameters())
    weights = {}
    for name, (tname, transposed) in torch_names(names).items():
        value = tparams[tname].detach().cpu().numpy()
        weights[name] = np.ascontiguousarray(value.T if transposed else value)
    return weights


class FlatParameters:
    """``module``'s parameters (each shared one once: a tied weight is one parameter) moved
    into one flat tensor ``params``, their gradients into ``grads``, every ``Parameter``
    and its ``.grad`` a view into them: the layout the training loop and the optimisers
    work on (``elman.nn.network.Network``'s). Autograd adds into the ``.grad`` views in
    place; ``check_views`` catches anything that replaced one.

    The recurrent module's parameters come first, in its own order, so that on a GPU
    they already form the one contiguous block cuDNN reads. The ``bias_hh`` that elman
    does not have (``frozen``) are in the buffers too, held at zero: their gradient is
    zeroed before it is used, so neither clipping nor the optimisers see it."""

    def __init__(self, module: nn.Module, first: nn.Module, frozen: Iterable[str]) -> None:
        named = dict(module.named_parameters())  # shared parameters once, by first name
        ids = {id(p) for p in first.parameters()}
        order = [n for n, p in named.items() if id(p) in ids]
        order += [n for n in named if n not in order]
        like = {"device": named[order[0]].device, "dtype": named[order[0]].dtype}
        total = sum(named[n].numel() for n in order)
        self.params = torch.empty(total, **like)
        self.grads = torch.zeros(total, **like)
        self.parameters: list[nn.Parameter] = []
        self.views: list[torch.Tensor] = []
        self.frozen: list[torch.Tensor] = []
        frozen = set(frozen)
        offset = 0
        for name in order:
            p = named[name]
            end = offset + p.numel()
            view = self.params[offset:end].view_as(p)
            view.copy_(p.data)
            p.data = view
            p.grad = self.grads[offset:end].view_as(p)
            self.parameters.append(p)
            self.views.append(p.grad)
            if name in frozen:
                self.frozen.append(p.grad)
            offset = end

    def after_backward(self) -> None:
        """Keep the frozen biases' gradient at zero, and put back any ``.grad`` autograd
        replaced instead of adding into (it does so only in cases elman avoids)."""
        for p, view in zip(self.parameters, self.views, strict=True):
            if p.grad is not view:  # a new tensor holding the view's sum and the gradient
                view.copy_(p.grad)
                p.grad = view
        for grad in self.frozen:
            grad.zero_()

    def zero_grad(self) -> None:
        self.grads.zero_()


class TorchModel:
    """What every torch model of an elman model holds: its module on the device, holding
    the NumPy model's weights as views into one flat tensor (``flat_params``,
    ``flat_grads``, as the NumPy models' are) in the NumPy model's dtype (float32, or
    float64 for tests), the processes it trains among, the arrays the optimizer works
    with, the recurrent layers' runners and the dropout generator it shares with the
    NumPy model.

    Training: a subclass's ``forward`` computes this process's summed loss over its
    shard of the batch and hands it to ``_mean_over_processes``; ``backward`` is then
    the same for every kind."""

    def __init__(
        self,
        numpy_model: Any,
        net: nn.Module,
        device: torch.device,
        processes: Processes | None,
    ) -> None:
        self.device = device
        self.processes = processes or Processes(device=self.device)
        self.dtype = numpy_model.flat_params.dtype  # of the dropout masks, too
        self.net = net.to(self.device, getattr(torch, self.dtype.name))
        copy_weights(self.net, numpy_model.params)
        self.names = list(numpy_model.params)
        self.parameter_count = numpy_model.flat_params.size
        self.flat = FlatParameters(self.net, self.net.rnn, zeroed_biases(self.names))
        self.flat_params, self.flat_grads = self.flat.params, self.flat.grads
        self.arrays = TorchArrays(self.device, self.dtype)
        self.runners = layer_runners(self.net.rnn)
        self.dropout_rng = numpy_model.dropout_rng
        self._loss: torch.Tensor | None = None  # this process's part, for backward
        self.loss_sum, self.loss_count = 0.0, 0.0

    @property
    def params(self) -> dict[str, np.ndarray]:
        """The weights under elman's names, as float32 arrays (copies): a checkpoint's."""
        return elman_weights(self.net, self.names)

    def zero_grad(self) -> None:
        self.flat.zero_grad()

    def _mean_over_processes(self, total: torch.Tensor, count: float) -> float:
        """The mean loss over every process's shard of the batch, from this process's
        summed loss ``total`` over its ``count`` (tokens, texts, their weights);
        ``loss_sum`` and ``loss_count`` then hold the sums over the processes. Backward
        goes from this process's sum over every process's count: the gradients, summed
        over the processes, are those of the mean over the whole batch."""
        local = torch.stack(
            [
                total.detach().double(),
                torch.tensor(float(count), device=self.device, dtype=torch.float64),
            ]
        )
        sums = self.processes.sum_(local)
        self.loss_sum, self.loss_count = float(sums[0]), float(sums[1])
        self._loss = total / max(self.loss_count, 1e-12)
        return self.loss_sum / max(self.loss_count, 1e-12)

    def backward(self) -> None:
        """Add the gradient of the last ``forward``'s loss to ``flat_grads``, summed over
        the processes."""
        if self._loss is not None and self._loss.requires_grad:
            self._loss.backward()
        self._loss = None
        self.flat.after_backward()
        self.processes.sum_(self.flat_grads)

    def _ids(self, ids: np.ndarray) -> torch.Tensor:
        """Token ids (or lengths) as an int64 tensor on the device."""
        return torch.from_numpy(np.ascontiguousarray(ids, np.int64)).to(self.device)

    def _tensor(self, a: np.ndarray) -> torch.Tensor:
        """An array (a dropout mask, a boolean mask) as a tensor on the device."""
        return torch.from_numpy(np.ascontiguousarray(a)).to(self.device)
