"""A language model as an ONNX graph over any number of steps, state in and state out:

    inputs   input_ids  int64    (batch, time)
             h0         float32  (layers, batch, hidden)     zeros to start
             c0         float32  (layers, batch, hidden)     LSTM only
    outputs  logits     float32  (batch, time, vocab)        next-token logits
             hn, cn     float32  (layers, batch, hidden)     the state after the last step

Feed it a prompt whole, or one token at a time with the state it returned, to generate;
with the adaptive softmax the logits are the log-probabilities (as ``LanguageModel.logits``).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper

from elman.lm.model import LanguageModel
from elman.onnx_export.graph import Graph, recurrent_layer


def language_model_graph(model: LanguageModel) -> onnx.ModelProto:
    """The ONNX model of ``model`` (see the module doc)."""
    config, params = model.config, model.params
    L, H = config.layers, config.hidden
    lstm = config.cell == "lstm"
    g = Graph()
    x = g.op("Gather", [g.constant("embed", params["embed.W"]), "input_ids"])  # (B, T, D)
    x = g.op("Transpose", [x], perm=[1, 0, 2])  # (T, B, D): ONNX's recurrent layout
    finals: list[list[str]] = [[], []]
    for k in range(L):
        initial = [
            g.op("Slice", [state, g.ints(k), g.ints(k + 1), g.ints(0)])
            for state in (["h0", "c0"] if lstm else ["h0"])
        ]
        y, h, c = recurrent_layer(g, x, params, [f"rnn.{k}"], config.cell, H, initial)
        x = g.op("Squeeze", [y, g.ints(1)])  # (T, 1, B, H) -> (T, B, H)
        finals[0].append(h)
        if c is not None:
            finals[1].append(c)
    h = g.op("Transpose", [x], perm=[1, 0, 2])  # (B, T, H)
    logits = adaptive_log_probs(g, model, h) if model.adaptive else full_logits(g, model, h)
    state = [("h0", "hn"), ("c0", "cn")] if lstm else [("h0", "hn")]
    states = [g.op("Concat", finals[i], axis=0) for i in range(len(state))]
    shape = [L, "batch", H]
    inputs = [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "time"])]
    inputs += [helper.make_tensor_value_info(i, TensorProto.FLOAT, shape) for i, _ in state]
    outputs = [(logits, "logits", ["batch", "time", config.vocab_size])]
    outputs += [(s, o, shape) for s, (_, o) in zip(states, state, strict=True)]
    doc = f"elman language model: {config.cell}, {L} x {H}, vocabulary {config.vocab_size}"
    return g.model(inputs, outputs, doc)


def full_logits(g: Graph, model: LanguageModel, h: str) -> str:
    """h W_y + b_y; when tied, W_y is the embedding read transposed (ONNX Runtime folds
    the transpose once, when it loads the model)."""
    params = model.params
    if model.config.tie:
        W = g.op("Transpose", [g.constant("embed_tied", params["embed.W"])], perm=[1, 0])
    else:
        W = g.constant("output_W", params["output.W"])
    return g.op("Add", [g.op("MatMul", [h, W]), g.constant("output_b", params["output.b"])])


def adaptive_log_probs(g: Graph, model: LanguageModel, h: str) -> str:
    """The adaptive softmax's log p(w | h) over the whole vocabulary, as
    ``AdaptiveSoftmax.log_prob``: the head's log-softmax for the shortlist, and for tail
    cluster k its head entry plus the log-softmax of h P_k Q_k."""
    params, output = model.params, model.output
    c0 = output.shortlist
    z = g.op(
        "Add",
        [
            g.op("MatMul", [h, g.constant("head_W", params["output.head.W"])]),
            g.constant("head_b", params["output.head.b"]),
        ],
    )
    head = g.op("LogSoftmax", [z], axis=-1)  # (B, T, c0 + K)
    parts = [g.op("Slice", [head, g.ints(0), g.ints(c0), g.ints(-1)])]
    for k in range(output.clusters):
        P = g.constant(f"tail{k}_proj", params[f"output.tail.{k}.proj"])
        Q = g.constant(f"tail{k}_out", params[f"output.tail.{k}.out"])
        within = g.op("LogSoftmax", [g.op("MatMul", [g.op("MatMul", [h, P]), Q])], axis=-1)
        entry = g.op("Slice", [head, g.ints(c0 + k), g.ints(c0 + k + 1), g.ints(-1)])
        parts.append(g.op("Add", [within, entry]))
    return g.op("Concat", parts, axis=-1)


def zeros_state(model: LanguageModel, batch: int) -> dict[str, np.ndarray]:
    """The graph's state inputs at the start: zeros."""
    shape = (model.config.layers, batch, model.config.hidden)
    names = ("h0", "c0") if model.config.cell == "lstm" else ("h0",)
    return {name: np.zeros(shape, np.float32) for name in names}
