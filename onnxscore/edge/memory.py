"""Peak activation memory estimate per sample: a liveness walk over the topologically sorted graph.

An estimate, not a measurement: each tensor is taken as allocated when its producer runs and freed after
its last consumer (graph inputs from the start, graph outputs to the end); weights (initializers and
Constant outputs) are reported apart; in-place reuse, aliasing (Reshape) and an executor's arena or
workspace buffers are ignored. Shapes come from `onnx.shape_inference` with the batch set to 1, and from
one onnxruntime run where inference leaves them unknown (onnxscore.edge.macs.infer_static_shapes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import prod
from typing import Sequence

import onnx
from onnx import helper

from onnxscore.edge.macs import ShapeInfo, infer_static_shapes


@dataclass
class MemoryReport:
    """Peak bytes of activations alive at once (per sample), where it happens, and weight bytes."""

    peak_bytes: int
    peak_node: str | None
    weight_bytes: int
    unknown_tensors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON-ready dict."""
        return {
            "peak_activation_bytes": self.peak_bytes,
            "peak_node": self.peak_node,
            "weight_bytes": self.weight_bytes,
            "unknown_tensors": list(self.unknown_tensors),
        }


def _itemsize(elem_type: int) -> int:
    """Bytes per element of an ONNX tensor type (0 for strings / unknown)."""
    try:
        return int(helper.tensor_dtype_to_np_dtype(elem_type).itemsize) if elem_type else 0
    except Exception:
        return 0


def topological_order(graph: onnx.GraphProto) -> list[onnx.NodeProto]:
    """Nodes in a topological order (Kahn's algorithm, stable w.r.t. the file order)."""
    produced_by = {o: i for i, n in enumerate(graph.node) for o in n.output if o}
    deps = [set() for _ in graph.node]
    users: list[list[int]] = [[] for _ in graph.node]
    for i, n in enumerate(graph.node):
        for name in n.input:
            j = produced_by.get(name)
            if j is not None and j != i and j not in deps[i]:
                deps[i].add(j)
                users[j].append(i)
    indeg = [len(d) for d in deps]
    import heapq

    ready = [i for i, d in enumerate(indeg) if d == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        i = heapq.heappop(ready)
        order.append(i)
        for u in users[i]:
            indeg[u] -= 1
            if indeg[u] == 0:
                heapq.heappush(ready, u)
    if len(order) != len(graph.node):  # a cycle: fall back to the file order
        return list(graph.node)
    return [graph.node[i] for i in order]


def peak_activation_memory(model, input_shape: Sequence[int] | None = None) -> MemoryReport:
    """Estimate per-sample peak activation bytes of `model` (path, bytes or ModelProto)."""
    return peak_from_shapes(infer_static_shapes(model, input_shape))


def peak_from_shapes(info: ShapeInfo) -> MemoryReport:
    """Liveness walk over an already computed ShapeInfo."""
    g = info.graph
    nodes = topological_order(g)
    unknown: list[str] = []

    def nbytes(name: str) -> int:
        shp = info.shapes.get(name)
        if shp is None:
            if name not in unknown:
                unknown.append(name)
            return 0
        return prod(shp) * _itemsize(info.elem_types.get(name, 0))

    weight_bytes = sum(nbytes(w) for w in info.weights)
    outputs = {o.name for o in g.output}
    last_use: dict[str, int] = {}
    for step, n in enumerate(nodes):
        for name in n.input:
            if name and name not in info.weights:
                last_use[name] = step
    end = len(nodes)
    for name in outputs:
        last_use[name] = end

    alive: dict[str, int] = {name: nbytes(name) for name in info.data_inputs}
    current = sum(alive.values())
    peak, peak_node = current, None
    for step, n in enumerate(nodes):
        for o in n.output:
            if o and o not in info.weights and o not in alive:
                alive[o] = nbytes(o)
                current += alive[o]
        if current > peak:
            peak, peak_node = current, n.name or f"{n.op_type}->{n.output[0] if n.output else ''}"
        for name in list(alive):
            if last_use.get(name, -1) <= step:
                current -= alive.pop(name)
    b = max(int(info.batch), 1)
    return MemoryReport(int(round(peak / b)), peak_node, int(weight_bytes), unknown)
