"""Layers with hand-written backward passes.

Every layer holds ``params`` and ``grads`` (dicts with the same keys), a
``forward`` and a ``backward`` directly below it. ``backward`` *adds* into
``grads`` (the trainer zeroes them once per step), so two layers holding the
same array share a parameter with nothing special.

Shapes use the same letters everywhere: B batch (parallel streams), T time
steps (a decoder's, or queries'), S source (memory) steps, D embedding size,
H hidden size, V vocabulary size.

    embedding.py         Embedding: ids -> rows of E
    recurrent.py         RNN: the tanh (or ReLU) cell over a whole sequence
    lstm.py              LSTM (PyTorch's gate order i, f, g, o)
    gru.py               GRU (PyTorch's r, z, n)
    bidirectional.py     Bidirectional: two layers, one reading backwards
    products.py          who computes a time loop's products with its weight matrix
    dropout.py           Dropout: a fresh mask per step, or one locked per sequence
    affine.py            Affine: x W + b
    loss.py              SoftmaxCrossEntropy (with a padding mask), log_softmax
    adaptive_softmax.py  AdaptiveSoftmax (Grave et al. 2017)
    pooling.py           Pooling: final state, mean or max over the real steps
    attention.py         Attention: dot, general, additive scores over a memory
    bridge.py            Bridge: tanh(c W + b), a condition into an initial state
    activations.py       sigmoid and the cells' nonlinearities
    sums.py              sums along an axis as BLAS matrix-vector products
    init.py              initialisers (Glorot, orthogonal, uniform) and layer factories
    parameters.py        every parameter in one flat buffer; NumpyArrays
    network.py           Network: what every model made of these layers shares
"""

from elman.nn.adaptive_softmax import AdaptiveSoftmax
from elman.nn.affine import Affine
from elman.nn.attention import Attention
from elman.nn.bidirectional import Bidirectional
from elman.nn.bridge import Bridge
from elman.nn.dropout import Dropout
from elman.nn.embedding import Embedding
from elman.nn.gru import GRU
from elman.nn.loss import SoftmaxCrossEntropy, log_softmax
from elman.nn.lstm import LSTM
from elman.nn.pooling import Pooling
from elman.nn.recurrent import RNN

__all__ = [
    "GRU",
    "LSTM",
    "RNN",
    "AdaptiveSoftmax",
    "Affine",
    "Attention",
    "Bidirectional",
    "Bridge",
    "Dropout",
    "Embedding",
    "Pooling",
    "SoftmaxCrossEntropy",
    "log_softmax",
]
