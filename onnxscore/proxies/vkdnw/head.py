"""The affine classifier head z = h @ W_eff + bias, found so the Jacobian can be taken w.r.t. h.

When the logits are an affine map of a feature vector h of width H < C, d z[n] / d theta =
W_eff^T d h[n] / d theta for every parameter before the head, so H reverse passes (one-hot
cotangents on h) replace C (one-hot on z); the head's own W.flat[0] and b.flat[0] have a closed-form
per-sample derivative (alpha h[n, 0] on class 0; beta times b's one-hot broadcast to the classes).
Recognised heads: the node writing the first graph output is Gemm(h, W[, b]) (transA = 0), or
Add(MatMul(h, W), b), with W (and b) initializers read by that node (pair) alone; h of rank 2."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import numpy_helper

from onnxscore.graph.view import attr


@dataclass(frozen=True)
class Head:
    """`nodes`: indices into graph.node of the head; `h`: the feature tensor; `w_eff`: (H, C) float64
    with z = h @ w_eff + bias; `weight`/`bias`: the initializers (bias None when absent);
    `d_weight`: d z[n, 0] / d W.flat[0] = d_weight * h[n, 0]; `d_bias`: (C,) d z[n] / d b.flat[0]."""

    nodes: tuple[int, ...]
    h: str
    w_eff: np.ndarray
    weight: str
    bias: str | None
    d_weight: float
    d_bias: np.ndarray | None

    @property
    def width(self) -> int:
        return self.w_eff.shape[0]

    @property
    def classes(self) -> int:
        return self.w_eff.shape[1]


def _bias_row(b: np.ndarray, c: int, scale: float) -> np.ndarray:
    """d z[n, :] / d b.flat[0] for a bias broadcast to (N, C)."""
    e = np.zeros(b.size, np.float64)
    e[0] = scale
    return np.broadcast_to(e.reshape(b.shape), (1, c)).reshape(c).copy()


def find_head(model: onnx.ModelProto) -> Head | None:
    """The model's affine head, or None when the last node is not one that this rule covers."""
    g = model.graph
    inits = {t.name: t for t in g.initializer} if g.initializer else {}
    consts = set(inits) - {i.name for i in g.input}
    readers: dict[str, list[int]] = {}
    for i, n in enumerate(g.node):
        for name in n.input:
            readers.setdefault(name, []).append(i)
    producer = {o: i for i, n in enumerate(g.node) for o in n.output if o}
    out = g.output[0].name
    if out not in producer:
        return None
    last = producer[out]
    node = g.node[last]

    def const(name: str, allowed: set[int]) -> np.ndarray | None:
        if name not in consts or set(readers.get(name, [])) - allowed:
            return None
        v = numpy_helper.to_array(inits[name])
        return v if v.dtype == np.float32 else None

    if node.domain in ("", "ai.onnx") and node.op_type == "Gemm" and not attr(node, "transA", 0):
        h, nodes = node.input[0], (last,)
        w = const(node.input[1], {last})
        if h in consts or w is None or w.ndim != 2:
            return None
        alpha, beta = float(attr(node, "alpha", 1.0)), float(attr(node, "beta", 1.0))
        w_eff = alpha * (w.T if attr(node, "transB", 0) else w).astype(np.float64)
        bname = node.input[2] if len(node.input) > 2 and node.input[2] else None
    elif node.domain in ("", "ai.onnx") and node.op_type == "Add":
        mm = [producer.get(i) for i in node.input]
        k = next((j for j, p in enumerate(mm) if p is not None and g.node[p].op_type == "MatMul"
                  and g.node[p].domain in ("", "ai.onnx") and readers.get(node.input[j]) == [last]), None)
        if k is None:
            return None
        mat = g.node[mm[k]]
        h, nodes = mat.input[0], (mm[k], last)
        w = const(mat.input[1], {mm[k]})
        if h in consts or w is None or w.ndim != 2:
            return None
        alpha, beta, w_eff, bname = 1.0, 1.0, w.astype(np.float64), node.input[1 - k]
    else:
        return None
    d_bias = None
    if bname is not None:
        b = const(bname, {last})
        if b is None or b.ndim > 2 or np.broadcast_shapes(b.shape, (1, w_eff.shape[1])) != (1, w_eff.shape[1]):
            return None
        d_bias = _bias_row(b, w_eff.shape[1], beta)
    weight = node.input[1] if node.op_type == "Gemm" else g.node[nodes[0]].input[1]
    return Head(nodes, h, w_eff, weight, bname, alpha, d_bias)
