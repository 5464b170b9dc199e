"""A classifier as an ONNX graph over right-padded batches:

    inputs   input_ids  int64    (batch, time)     ids, right-padded (with 0, say)
             lengths    int64    (batch,)          each text's number of ids, at least 1
    outputs  logits     float32  (batch, classes)

The recurrent layers read each text's own length (ONNX's sequence_lens: a reverse
direction starts at the text's last id), and the pooling reads its real steps only, as
``elman.nn.Pooling`` does.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper

from elman.classify.model import Classifier
from elman.onnx_export.graph import Graph, recurrent_layer


def classifier_graph(model: Classifier, pooling: str) -> onnx.ModelProto:
    """The ONNX model of ``model`` with its ``pooling`` ("final", "mean" or "max")."""
    config, params = model.config, model.params
    H = config.hidden
    g = Graph()
    lengths = g.op("Cast", ["lengths"], to=TensorProto.INT32)
    x = g.op("Gather", [g.constant("embed", params["embed.W"]), "input_ids"])  # (B, T, D)
    x = g.op("Transpose", [x], perm=[1, 0, 2])  # (T, B, D)
    final = ""
    for k in range(config.layers):
        directions = ["forward", "reverse"] if config.bidirectional else []
        prefixes = [f"rnn.{k}.{d}" for d in directions] or [f"rnn.{k}"]
        y, final, _ = recurrent_layer(g, x, params, prefixes, config.cell, H, None, lengths)
        y = g.op("Transpose", [y], perm=[0, 2, 1, 3])  # (T, dirs, B, H) -> (T, B, dirs, H)
        x = g.op("Reshape", [y, g.ints(0, 0, -1)])  # (T, B, dirs H)
    if pooling == "final":  # each direction's last state: (dirs, B, H) -> (B, dirs H)
        pooled = g.op("Reshape", [g.op("Transpose", [final], perm=[1, 0, 2]), g.ints(0, -1)])
    else:
        pooled = masked_pooling(g, x, pooling)
    W, b = g.constant("output_W", params["output.W"]), g.constant("output_b", params["output.b"])
    logits = g.op("Add", [g.op("MatMul", [pooled, W]), b])
    inputs = [
        helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "time"]),
        helper.make_tensor_value_info("lengths", TensorProto.INT64, ["batch"]),
    ]
    doc = f"elman classifier: {config.cell}, {config.layers} x {H}, {model.classes} classes"
    return g.model(inputs, [(logits, "logits", ["batch", model.classes])], doc)


def masked_pooling(g: Graph, x: str, pooling: str) -> str:
    """The mean or maximum of ``x`` (T, B, F) over each text's real steps -> (B, F)."""
    T = g.op("Gather", [g.op("Shape", ["input_ids"]), g.constant("one", np.array(1, np.int64))])
    steps = g.op(
        "Range",
        [g.constant("zero", np.array(0, np.int64)), T, g.constant("step", np.array(1, np.int64))],
    )  # (T,)
    real = g.op(
        "Less", [g.op("Unsqueeze", [steps, g.ints(1)]), g.op("Unsqueeze", ["lengths", g.ints(0)])]
    )  # (T, B)
    real = g.op("Unsqueeze", [real, g.ints(2)])  # (T, B, 1)
    if pooling == "max":
        lowest = g.constant("lowest", np.array(-np.inf, np.float32))
        return g.op("ReduceMax", [g.op("Where", [real, x, lowest])], axes=[0], keepdims=0)
    total = g.op(
        "ReduceSum",
        [g.op("Mul", [x, g.op("Cast", [real], to=TensorProto.FLOAT)]), g.ints(0)],
        keepdims=0,
    )  # (B, F)
    counts = g.op("Unsqueeze", [g.op("Cast", ["lengths"], to=TensorProto.FLOAT), g.ints(1)])
    return g.op("Div", [total, counts])
