"""Building ONNX graphs from elman's weights: a small node builder and the recurrent layers.

elman's recurrent weights are PyTorch's transposed (``elman.torch_names``); ONNX's are
PyTorch's with the gates in another order:

    cell   elman / PyTorch   ONNX        biases (ONNX B = [Wb, Rb])
    rnn    -                 -           Wb = b, Rb = 0
    lstm   i f g o           i o f c     Wb = b (i o f c), Rb = 0
    gru    r z n             z r h       Wb = b_x, Rb = b_h; linear_before_reset = 1

``linear_before_reset`` makes ONNX's GRU compute n = tanh(W_n x + b_n + r (R_n h + Rb_n)),
PyTorch's and elman's form.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8  # opset 17's; read by onnxruntime 1.13 and later

ONNX_OPS = {"rnn": "RNN", "rnn-relu": "RNN", "lstm": "LSTM", "gru": "GRU"}
# Where each ONNX gate block comes from in elman's (PyTorch's) order.
GATE_ORDER = {"rnn": [0], "rnn-relu": [0], "lstm": [0, 3, 1, 2], "gru": [1, 0, 2]}


class Graph:
    """Nodes and initialisers, each output named uniquely: ``op`` adds a node and returns
    its output names, ``constant`` an initialiser and its name."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._count = 0

    def name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def constant(self, hint: str, value: np.ndarray) -> str:
        name = self.name(hint)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def ints(self, *values: int) -> str:
        return self.constant("ints", np.array(values, np.int64))

    def op(self, op_type: str, inputs: list[str], outputs: int = 1, **attributes: Any) -> Any:
        """Add a node; its one output's name, or a list of ``outputs`` names."""
        names = [self.name(op_type.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op_type, inputs, names, **attributes))
        return names[0] if outputs == 1 else names

    def model(
        self,
        inputs: list[onnx.ValueInfoProto],
        outputs: list[tuple[str, str, list]],
        doc: str,
    ) -> onnx.ModelProto:
        """The model: ``outputs`` are (internal name, public name, shape) of float tensors."""
        for internal, public, _ in outputs:
            self.nodes.append(helper.make_node("Identity", [internal], [public]))
        infos = [helper.make_tensor_value_info(p, TensorProto.FLOAT, s) for _, p, s in outputs]
        graph = helper.make_graph(self.nodes, "elman", inputs, infos, self.initializers)
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", OPSET)],
            ir_version=IR_VERSION,
            producer_name="elman",
            doc_string=doc,
        )
        onnx.checker.check_model(model, full_check=True)
        return model


def _gates(W: np.ndarray, cell: str) -> np.ndarray:
    """elman's (in, G H) weight -> ONNX's (G H, in), gate blocks in ONNX's order."""
    gates = len(GATE_ORDER[cell])
    blocks = np.split(W.T, gates, axis=0)
    return np.concatenate([blocks[g] for g in GATE_ORDER[cell]], axis=0)


def _bias(b: np.ndarray, cell: str) -> np.ndarray:
    gates = len(GATE_ORDER[cell])
    blocks = np.split(b, gates)
    return np.concatenate([blocks[g] for g in GATE_ORDER[cell]])


def recurrent_weights(
    params: dict[str, np.ndarray], prefixes: list[str], cell: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ONNX's W (dirs, G H, in), R (dirs, G H, H) and B (dirs, 2 G H) of one layer, from
    elman's parameters ``PREFIX.W_x``, ... of each direction (one prefix, or forward and
    reverse)."""
    Ws, Rs, Bs = [], [], []
    for prefix in prefixes:
        Ws.append(_gates(params[f"{prefix}.W_x"], cell))
        Rs.append(_gates(params[f"{prefix}.W_h"], cell))
        if cell == "gru":
            b_x, b_h = _bias(params[f"{prefix}.b_x"], cell), _bias(params[f"{prefix}.b_h"], cell)
        else:
            b_x = _bias(params[f"{prefix}.b"], cell)
            b_h = np.zeros_like(b_x)
        Bs.append(np.concatenate([b_x, b_h]))
    return tuple(np.stack(a).astype(np.float32) for a in (Ws, Rs, Bs))  # type: ignore[return-value]


def recurrent_layer(
    g: Graph,
    x: str,
    params: dict[str, np.ndarray],
    prefixes: list[str],
    cell: str,
    hidden: int,
    initial: list[str] | None = None,
    lengths: str = "",
) -> tuple[str, str, str | None]:
    """One ONNX RNN/LSTM/GRU node over ``x`` (T, B, in): its Y (T, dirs, B, H), Y_h
    (dirs, B, H) and, for an LSTM, Y_c. ``initial``: initial_h (and initial_c), else
    zeros; ``lengths``: sequence_lens (B,) int32, else every sequence is T long."""
    W, R, B = recurrent_weights(params, prefixes, cell)
    inputs = [x, g.constant("W", W), g.constant("R", R), g.constant("B", B), lengths]
    inputs += initial or []
    while not inputs[-1]:  # optional inputs left out at the end
        inputs.pop()
    attributes: dict[str, Any] = {"hidden_size": hidden}
    if len(prefixes) == 2:
        attributes["direction"] = "bidirectional"
    if cell == "rnn-relu":
        attributes["activations"] = ["Relu"] * len(prefixes)
    if cell == "gru":
        attributes["linear_before_reset"] = 1
    outputs = 3 if cell == "lstm" else 2
    names = g.op(ONNX_OPS[cell], inputs, outputs=outputs, **attributes)
    return names[0], names[1], names[2] if cell == "lstm" else None
