"""What every model made of these layers shares: its parameters in one flat buffer,
named; a training mode that switches its dropout; one generator for dropout; and who
computes its recurrent layers' products (``nn/products.py``)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from elman.nn.dropout import Dropout
from elman.nn.gru import GRU
from elman.nn.lstm import LSTM
from elman.nn.parameters import NumpyArrays, pack_parameters
from elman.nn.products import NUMPY, Gemm
from elman.nn.recurrent import RNN


class Network:
    """A model: ``params`` maps names such as ``"rnn.0.W_h"`` to views into one flat
    buffer ``flat_params``, and ``grads`` likewise into ``flat_grads``, so clipping and
    the optimiser's update are single vectorised operations, and the names make
    checkpoints and comparisons with PyTorch unambiguous.

    A subclass builds its layers, then calls ``pack(layers)`` with its layers that have
    parameters, named, and lists its ``Dropout`` layers in ``dropouts``; they all draw
    from ``dropout_rng``, a generator of their own, so masks do not disturb
    initialisation and resuming restores one generator.
    """

    flat_params: np.ndarray
    flat_grads: np.ndarray
    params: dict[str, np.ndarray]
    grads: dict[str, np.ndarray]
    dropouts: list[Dropout]
    dropout_rng: np.random.Generator
    recurrent: list[RNN | LSTM | GRU]  # every recurrent layer, each direction of a pair

    def pack(
        self,
        layers: Iterable[tuple[str, object]],
        dtype: np.dtype | type,
        skip: frozenset[str] = frozenset(),
    ) -> None:
        """Move the named layers' parameters into the flat buffers (``pack_parameters``)."""
        layers = list(layers)
        self.flat_params, self.flat_grads, self.params, self.grads = pack_parameters(
            layers, np.dtype(dtype), skip=skip
        )
        self.recurrent = [layer for _, layer in layers if isinstance(layer, (RNN, LSTM, GRU))]

    @property
    def gemm(self) -> Gemm:
        """Who computes the recurrent layers' products (numpy's matmul unless ``use_gemm``
        said otherwise)."""
        return self.recurrent[0].gemm if self.recurrent else NUMPY

    def use_gemm(self, gemm: Gemm) -> None:
        """Have every recurrent layer compute its time loops' products with ``gemm``
        (``NUMPY``, or ``elman.gemm``'s MKL path)."""
        for layer in self.recurrent:
            layer.gemm = gemm

    @property
    def dtype(self) -> np.dtype:
        return self.flat_params.dtype

    @property
    def arrays(self) -> NumpyArrays:
        """The operations the training loop makes on ``flat_params`` and ``flat_grads``."""
        return NumpyArrays(self.dtype)

    @property
    def training(self) -> bool:
        """True while training: dropout is applied. Evaluation and generation set False."""
        return self.dropouts[0].training if self.dropouts else False

    @training.setter
    def training(self, mode: bool) -> None:
        for dropout in self.dropouts:
            dropout.training = mode

    def zero_grad(self) -> None:
        self.flat_grads.fill(0)
