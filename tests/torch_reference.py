"""elman's weights in a PyTorch module and PyTorch's gradients back under elman's names,
through the one table of names (``elman.torch_names``)."""

from __future__ import annotations

import numpy as np

from elman.torch_names import torch_names, zeroed_biases


def _strip(name: str, prefix: str) -> str:
    return name[len(prefix) :] if prefix and name.startswith(prefix) else name


def load_into(torch, module, params: dict[str, np.ndarray], prefix: str = "") -> None:
    """Copy ``params`` (elman's names) into ``module``'s parameters, transposed where the
    table says, and zero the biases elman folds into one. ``prefix`` is taken off the
    PyTorch names when ``module`` is itself a part (``"rnn."`` for a bare ``nn.LSTM``)."""
    tparams = dict(module.named_parameters())
    with torch.no_grad():
        for name, (tname, transposed) in torch_names(params).items():
            value = params[name].T if transposed else params[name]
            tparams[_strip(tname, prefix)].copy_(torch.from_numpy(np.ascontiguousarray(value)))
        for tname in zeroed_biases(params):
            tparams[_strip(tname, prefix)].zero_()


def grads_from(module, names, prefix: str = "") -> dict[str, np.ndarray]:
    """``module``'s gradients under elman's ``names``, transposed back where needed."""
    tparams = dict(module.named_parameters())
    grads = {}
    for name, (tname, transposed) in torch_names(names).items():
        grad = tparams[_strip(tname, prefix)].grad.detach().numpy()
        grads[name] = grad.T if transposed else grad
    return grads
