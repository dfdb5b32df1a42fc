"""The weight set of docs/GRADIENTS.md: Conv weights (any rank), Gemm B and MatMul 2-D initializers, each
initializer once (reached through Identity/Cast), with the layer (call site) that reads it."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper

from onnxscore.graph.view import GraphView, attr

FLOAT = frozenset({TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16, TensorProto.BFLOAT16})
PASS_THROUGH = frozenset({"Identity", "Cast"})


@dataclass(frozen=True)
class Layer:
    """One call site of a weight: `inp` its data input, `out` its output (incl. its own bias)."""

    node: str  # node name (or first output) for messages
    kind: str  # "Conv", "Gemm" or "MatMul"
    weight: str  # the initializer
    bias: str | None  # the bias initializer (Conv input 2, Gemm C, the following Add's initializer)
    inp: str
    pre_bias: str  # the node's own output (before a MatMul's separate bias Add)
    out: str
    fan_in: int  # numel(W) / C_out
    trans_a: bool = False
    trans_b: bool = False


def resolve(view: GraphView, name: str) -> str | None:
    """The float initializer `name` is (through Identity/Cast nodes), else None."""
    producers = view.producer_nodes()
    seen = 0
    while name not in view.initializers:
        node = producers.get(name)
        if node is None or node.op_type not in PASS_THROUGH or seen > 64:
            return None
        name, seen = node.input[0], seen + 1
    return name if view.initializers[name].data_type in FLOAT else None


def _bias_add(view: GraphView, out: str) -> tuple[str | None, str]:
    """A MatMul's bias: the lone Add reading `out` with an initializer as its other operand."""
    readers = view.consumers.get(out, [])
    if len(readers) != 1 or out in {o.name for o in view.graph.output}:
        return None, out
    add = view.graph.node[readers[0]]
    if add.op_type != "Add":
        return None, out
    other = add.input[1] if add.input[0] == out else add.input[0]
    bias = resolve(view, other)
    return (bias, add.output[0]) if bias else (None, out)


def find_layers(model: onnx.ModelProto) -> list[Layer]:
    """Every call site of a weight-set tensor, in execution order."""
    view = GraphView(model)
    layers = []
    for i in view.order:
        n = view.graph.node[i]
        if n.domain not in ("", "ai.onnx") or n.op_type not in ("Conv", "Gemm", "MatMul") or len(n.input) < 2:
            continue
        w = resolve(view, n.input[1])
        if w is None:
            continue
        dims = list(view.initializers[w].dims)
        label = n.name or n.output[0]
        if n.op_type == "Conv" and len(dims) >= 3:
            bias = resolve(view, n.input[2]) if len(n.input) > 2 and n.input[2] else None
            layers.append(Layer(label, "Conv", w, bias, n.input[0], n.output[0], n.output[0],
                                int(np.prod(dims)) // dims[0]))
        elif n.op_type == "Gemm" and len(dims) == 2:
            trans_b = bool(attr(n, "transB", 0))
            c_out = dims[0] if trans_b else dims[1]
            bias = resolve(view, n.input[2]) if len(n.input) > 2 and n.input[2] else None
            layers.append(Layer(label, "Gemm", w, bias, n.input[0], n.output[0], n.output[0],
                                int(np.prod(dims)) // c_out, bool(attr(n, "transA", 0)), trans_b))
        elif n.op_type == "MatMul" and len(dims) == 2:
            bias, out = _bias_add(view, n.output[0])
            layers.append(Layer(label, "MatMul", w, bias, n.input[0], n.output[0], out, dims[0]))
    return layers


def weight_set(layers: list[Layer]) -> list[str]:
    """The initializers of the weight set, each once, in first-use order."""
    return list(dict.fromkeys(layer.weight for layer in layers))


def initializer_values(model: onnx.ModelProto, names: list[str]) -> dict[str, np.ndarray]:
    inits = {t.name: t for t in model.graph.initializer}
    return {n: numpy_helper.to_array(inits[n]) for n in names}


def bn_scales(model: onnx.ModelProto) -> list[str]:
    """BatchNormalization scale initializers (TE-NAS's "weight" parameters besides Conv/Linear)."""
    view = GraphView(model)
    out = []
    for n in model.graph.node:
        if n.op_type == "BatchNormalization":
            s = resolve(view, n.input[1])
            if s is not None:
                out.append(s)
    return list(dict.fromkeys(out))
