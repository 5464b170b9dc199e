"""Weight initialisers, each citing where it comes from.

All take an explicit ``numpy.random.Generator``: no global random state.
"""

from __future__ import annotations

import numpy as np

from elman.nn.adaptive_softmax import AdaptiveSoftmax, projection_size
from elman.nn.attention import SCORES, Attention
from elman.nn.bridge import Bridge
from elman.nn.gru import GRU
from elman.nn.lstm import LSTM
from elman.nn.recurrent import RNN

GATES = {"rnn": 1, "rnn-relu": 1, "lstm": 4, "gru": 3}  # blocks of H columns per cell
EMBED_SCALE = 0.1  # U(-0.1, 0.1) for embeddings and output layers (Zaremba et al. 2014)


def uniform(rng: np.random.Generator, shape: tuple[int, ...], scale: float) -> np.ndarray:
    """U(-scale, scale). With scale 0.1 this is Zaremba et al. (2014) and PyTorch's
    word_language_model for the embedding and the output layer."""
    return rng.uniform(-scale, scale, size=shape)


def glorot_uniform(rng: np.random.Generator, fan_in: int, fan_out: int) -> np.ndarray:
    """Glorot & Bengio (2010): U(-a, a) with a = sqrt(6 / (fan_in + fan_out)), which
    keeps the variance of activations and gradients roughly equal across a layer."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=(fan_in, fan_out))


def orthogonal(rng: np.random.Generator, size: int) -> np.ndarray:
    """A random orthogonal matrix (Saxe et al. 2014). For the recurrent matrix W_h:
    all its singular values are 1, so at the start repeated multiplication by it
    neither shrinks nor blows up the hidden state and its gradient."""
    q, r = np.linalg.qr(rng.standard_normal((size, size)))
    # Fix the signs so the distribution is uniform over orthogonal matrices (Mezzadri 2007).
    return q * np.sign(np.diag(r))


def recurrent_layer(
    cell: str, input_size: int, hidden: int, rng: np.random.Generator
) -> RNN | LSTM | GRU:
    """A recurrent layer of the named cell ("rnn", "rnn-relu", "lstm", "gru"), initialised:
    input weights Glorot uniform per gate, recurrent weights orthogonal per gate,
    biases zero except the LSTM's forget gate, which starts at 1 so that the cell
    remembers by default (Gers et al. 2000; Jozefowicz et al. 2015)."""
    gates = GATES[cell]
    W_x = np.concatenate([glorot_uniform(rng, input_size, hidden) for _ in range(gates)], axis=1)
    W_h = np.concatenate([orthogonal(rng, hidden) for _ in range(gates)], axis=1)
    if cell == "lstm":
        b = np.zeros(4 * hidden)
        b[hidden : 2 * hidden] = 1.0  # [i | f | g | o]
        return LSTM(W_x, W_h, b)
    if cell == "gru":
        return GRU(W_x, W_h, np.zeros(3 * hidden), np.zeros(3 * hidden))
    return RNN(W_x, W_h, np.zeros(hidden), "relu" if cell == "rnn-relu" else "tanh")


def adaptive_softmax(
    rng: np.random.Generator,
    hidden: int,
    vocab: int,
    cutoffs: list[int],
    div_value: float,
    scale: float,
) -> AdaptiveSoftmax:
    """An adaptive softmax over ``vocab`` tokens split at ``cutoffs`` (Grave et al. 2017),
    tail cluster k projecting to H // div_value^(k+1): every weight U(-scale, scale), as
    a full output layer's, and the head's bias zero."""
    bounds = [*cutoffs, vocab]
    head_W = uniform(rng, (hidden, cutoffs[0] + len(cutoffs)), scale)
    tail = []
    for k in range(len(cutoffs)):
        size = projection_size(hidden, div_value, k)
        proj = uniform(rng, (hidden, size), scale)
        tail.append((proj, uniform(rng, (size, bounds[k + 1] - bounds[k]), scale)))
    return AdaptiveSoftmax(head_W, np.zeros(head_W.shape[1]), tail, cutoffs)


def attention(
    rng: np.random.Generator,
    score: str,
    query_size: int,
    memory_size: int,
    attention_size: int | None = None,
) -> Attention:
    """Attention with the named score ("dot", "general", "additive") between queries of
    size Hq and a memory of size Hm: W_a (Hq, Hm), W_q (Hq, A) and W_k (Hm, A) Glorot
    uniform, as the project's other input weights; v (A,) U(-0.1, 0.1), the range
    Luong et al. (2015) draw every parameter from. (Bahdanau et al. 2015 start v at
    zero, which leaves W_q and W_k without gradient until v has moved.) The additive
    score needs ``attention_size`` A; the dot score needs Hq = Hm."""
    if score not in SCORES:
        raise ValueError(f"score must be one of {SCORES}, got {score!r}")
    if score == "dot":
        if query_size != memory_size:
            raise ValueError(
                f"expected the dot score's query size to equal the memory size {memory_size}, "
                f"got {query_size}"
            )
        return Attention("dot")
    if score == "general":
        return Attention("general", W_a=glorot_uniform(rng, query_size, memory_size))
    if attention_size is None:
        raise ValueError("expected an attention size for the additive score, got None")
    return Attention(
        "additive",
        W_q=glorot_uniform(rng, query_size, attention_size),
        W_k=glorot_uniform(rng, memory_size, attention_size),
        v=uniform(rng, (attention_size,), 0.1),
    )


def bridge(rng: np.random.Generator, input_size: int, output_size: int) -> Bridge:
    """y = tanh(x W + b) with W Glorot uniform (Glorot & Bengio 2010 derive it for tanh
    layers) and b zero."""
    return Bridge(glorot_uniform(rng, input_size, output_size), np.zeros(output_size))
