"""Find the activation sites: the tensors whose sign gives each unit's binary code (PROXIES.md)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from onnxscore.graph.view import GraphView, attr

# The paper's sites (ReLU family). The code of a unit is 1[pre-activation > 0]; for these ops the
# output is > 0 exactly when the input is, so the output is binarised (this keeps Conv+Relu fusion).
PAPER_OPS = ("Relu", "Clip", "LeakyRelu", "PRelu")
# Extension, only on request: smooth activations, coded by the sign of their input.
EXTENDED_OPS = ("Gelu", "HardSwish", "Elu", "Selu", "Celu", "Softplus", "Mish", "Swish")
WEIGHTED_CONSUMERS = ("Conv", "ConvTranspose", "Gemm", "MatMul")


@dataclass(frozen=True)
class Site:
    """One activation site: which node, which tensor to binarise, and why it counts."""

    index: int  # position in execution order among sites
    node: str  # node name (or output name when the node is unnamed)
    op_type: str
    tensor: str  # tensor whose sign (> 0) is the code
    merged_consumers: int  # weighted ops (Conv/Gemm/MatMul) reading this activation's output


def _clip_is_relu(view: GraphView, node) -> bool:
    """Clip with min == 0 (ReLU6 and friends) has the ReLU sign pattern."""
    if view.opset < 11:
        lo = attr(node, "min", None)
    else:
        lo = view.constant_value(node.input[1]) if len(node.input) > 1 else None
    if lo is None or np.size(lo) != 1 or float(np.asarray(lo).reshape(())) != 0.0:
        return False
    if view.opset >= 11 and len(node.input) > 2 and node.input[2]:
        hi = view.constant_value(node.input[2])
        return hi is not None and float(np.asarray(hi).reshape(())) > 0.0
    hi = attr(node, "max", None)
    return hi is None or hi > 0.0


def _sign_preserving(view: GraphView, node) -> bool:
    """True when the op's output is > 0 exactly when its input is > 0."""
    if node.op_type == "Relu":
        return True
    if node.op_type == "Clip":
        return _clip_is_relu(view, node)
    if node.op_type == "LeakyRelu":
        return attr(node, "alpha", 0.01) >= 0.0
    if node.op_type == "PRelu":
        slope = view.constant_value(node.input[1])
        return slope is not None and bool(np.all(np.asarray(slope) >= 0))
    return False


def _swish_nodes(view: GraphView) -> dict[int, str]:
    """Mul(x, Sigmoid(x)) patterns (SiLU/Swish as most exporters write it): Mul index -> x."""
    found = {}
    for i, n in enumerate(view.graph.node):
        if n.op_type != "Mul" or len(n.input) != 2:
            continue
        for a, b in (n.input, n.input[::-1]):
            p = view.producer.get(b)
            if p is not None and view.graph.node[p].op_type == "Sigmoid" and view.graph.node[p].input[0] == a:
                found[i] = a
                break
    return found


def find_sites(view: GraphView, activations: str = "relu") -> list[Site]:
    """Activation sites in execution order; `activations` is "relu" (the papers') or "extended"."""
    if activations not in ("relu", "extended"):
        from onnxscore.errors import InputError

        raise InputError(f"unknown activation set '{activations}'; use 'relu' or 'extended'")
    swish = _swish_nodes(view) if activations == "extended" else {}
    sites: list[Site] = []
    for i in view.order:
        node = view.graph.node[i]
        tensor = None
        if node.op_type in PAPER_OPS:
            if _sign_preserving(view, node):
                tensor = node.output[0]
            elif node.op_type in ("LeakyRelu", "PRelu"):
                tensor = node.input[0]  # negative slope: the sign of the input is the code
        if tensor is None and activations == "extended":
            if node.op_type in EXTENDED_OPS:
                tensor = node.input[0]
            elif i in swish:
                tensor = swish[i]
        if tensor is None:
            continue
        out = node.output[0]
        merged = sum(
            view.graph.node[c].op_type in WEIGHTED_CONSUMERS for c in view.consumers.get(out, [])
        )
        sites.append(Site(len(sites), node.name or out, node.op_type, tensor, merged))
    return sites


def subgraph_activations(view: GraphView) -> int:
    """Activation ops hidden inside If/Loop/Scan bodies (they cannot become graph outputs)."""
    count = 0

    def walk(graph):
        nonlocal count
        for n in graph.node:
            for a in n.attribute:
                subs = [a.g] if a.HasField("g") else list(a.graphs)
                for g in subs:
                    count += sum(m.op_type in PAPER_OPS for m in g.node)
                    walk(g)

    walk(view.graph)
    return count
