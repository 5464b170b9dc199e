"""Layers with hand-written backward passes.

Every layer holds ``params`` and ``grads`` (dicts with the same keys), a
``forward`` and a ``backward`` directly below it. ``backward`` *adds* into
``grads`` (the trainer zeroes them once per step), so two layers holding the
same array share a parameter with nothing special.

Shapes use the same letters everywhere: B batch (parallel streams), T time
steps (a decoder's, or queries'), S source (memory) steps, D embedding size,
H hidden size, V vocabulary size.
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
