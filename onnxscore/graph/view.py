"""A networkx view of an ONNX graph: nodes by index, edges from producer to consumer tensors."""
from __future__ import annotations

import bisect
from functools import cached_property

import networkx as nx
import numpy as np
import onnx
from onnx import numpy_helper


class GraphView:
    """Read-only queries over `model.graph` (producers, consumers, constants, execution order)."""

    def __init__(self, model: onnx.ModelProto):
        self.model = model
        self.graph = model.graph

    @cached_property
    def producer(self) -> dict[str, int]:
        """Tensor name -> index of the node that writes it."""
        return {out: i for i, n in enumerate(self.graph.node) for out in n.output if out}

    def producer_nodes(self) -> dict[str, onnx.NodeProto]:
        """Tensor name -> the node that writes it."""
        return {name: self.graph.node[i] for name, i in self.producer.items()}

    @cached_property
    def consumers(self) -> dict[str, list[int]]:
        """Tensor name -> indices of the nodes that read it."""
        cons: dict[str, list[int]] = {}
        for i, n in enumerate(self.graph.node):
            for name in n.input:
                if name:
                    cons.setdefault(name, []).append(i)
        return cons

    @cached_property
    def nx(self) -> nx.DiGraph:
        """Node-level DiGraph: an edge i -> j when node j reads a tensor node i writes."""
        g = nx.DiGraph()
        g.add_nodes_from(range(len(self.graph.node)))
        for name, readers in self.consumers.items():
            src = self.producer.get(name)
            if src is not None:
                g.add_edges_from((src, dst) for dst in readers)
        return g

    @cached_property
    def order(self) -> list[int]:
        """Execution order: topological, ties broken by position in the file."""
        return list(nx.lexicographical_topological_sort(self.nx))

    @cached_property
    def initializers(self) -> dict[str, onnx.TensorProto]:
        return {t.name: t for t in self.graph.initializer}

    @cached_property
    def declared_types(self) -> dict[str, int]:
        """Element types written in the file (inputs, outputs, value_info), without inference."""
        g = self.graph
        return {v.name: v.type.tensor_type.elem_type for v in (*g.input, *g.output, *g.value_info)
                if v.type.tensor_type.elem_type}

    @cached_property
    def graph_inputs(self) -> list[onnx.ValueInfoProto]:
        """Inputs that are fed at run time (not initializers)."""
        inits = set(self.initializers)
        return [i for i in self.graph.input if i.name not in inits]

    @cached_property
    def opset(self) -> int:
        for o in self.model.opset_import:
            if o.domain in ("", "ai.onnx"):
                return o.version
        return 0

    def op_types(self) -> set[str]:
        return {n.op_type for n in self.graph.node}

    def constant_value(self, name: str, _depth: int = 0) -> np.ndarray | None:
        """Value of a tensor fixed at build time, else None: an initializer, a Constant node, or
        one seen through Identity/Cast/CastLike and (for scalars) Squeeze/Unsqueeze/Reshape,
        which is how torch dynamo and paddle2onnx write a ReLU6's bounds."""
        if not name or _depth > 8:
            return None
        if name in self.initializers:
            t = self.initializers[name]
            if t.data_location == onnx.TensorProto.EXTERNAL:
                return None
            return numpy_helper.to_array(t)
        idx = self.producer.get(name)
        if idx is None:
            return None
        node = self.graph.node[idx]
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value":
                    return numpy_helper.to_array(a.t)
                if a.name == "value_float":
                    return np.array(a.f, dtype=np.float32)
                if a.name == "value_floats":
                    return np.array(list(a.floats), dtype=np.float32)
                if a.name == "value_int":
                    return np.array(a.i, dtype=np.int64)
            return None
        if node.op_type not in ("Identity", "Cast", "CastLike", "Squeeze", "Unsqueeze", "Reshape"):
            return None
        val = self.constant_value(node.input[0], _depth + 1)
        if val is None:
            return None
        if node.op_type == "Cast":
            return val.astype(onnx.helper.tensor_dtype_to_np_dtype(attr(node, "to")))
        if node.op_type == "CastLike":
            like = self.constant_value(node.input[1], _depth + 1)
            if like is not None:
                return val.astype(like.dtype)
            declared = self.declared_types.get(node.input[1])
            return val.astype(onnx.helper.tensor_dtype_to_np_dtype(declared)) if declared else val
        if node.op_type == "Identity":
            return val
        return val.reshape(()) if val.size == 1 else None  # reshaping a scalar keeps its value


def attr(node: onnx.NodeProto, name: str, default=None):
    """An attribute's Python value, or `default`."""
    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


_GRAPH_ATTRS = (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)


def subgraphs(node: onnx.NodeProto) -> list[onnx.GraphProto]:
    """The bodies a node holds (If branches, Loop/Scan bodies, a custom op's graph attributes).
    Reads each attribute's type, not HasField: 3x faster on the graphs every pass walks."""
    found: list[onnx.GraphProto] = []
    for a in node.attribute:
        if a.type in _GRAPH_ATTRS:
            found.extend([a.g] if a.type == onnx.AttributeProto.GRAPH else a.graphs)
    return found


def all_names(model: onnx.ModelProto) -> set[str]:
    """Every tensor and node name of the main graph (inputs, outputs, initializers, value_info, nodes)."""
    g = model.graph
    names = {v.name for v in (*g.input, *g.output, *g.value_info)} | {t.name for t in g.initializer}
    for n in g.node:
        names.update(n.input)
        names.update(n.output)
        names.add(n.name)
    names.discard("")
    return names


class NameIndex(frozenset):
    """A model's names, sorted once, so that "does any name start with p?" is a bisection, not a scan:
    a pass that picks one fresh prefix per node (the BN rewrite) stays linear in the model's size."""

    def __new__(cls, names):
        index = super().__new__(cls, names)
        index._sorted = sorted(index)
        return index

    def has_prefix(self, prefix: str) -> bool:
        i = bisect.bisect_left(self._sorted, prefix)
        return i < len(self._sorted) and self._sorted[i].startswith(prefix)


def fresh_prefix(names: set[str] | NameIndex, base: str) -> str:
    """`base`, or `base` with a number added, such that no name in `names` starts with it: tensors
    onnxscore adds can then never collide with, or silently replace, a user's tensor."""
    if isinstance(names, NameIndex):
        taken = names.has_prefix
    else:
        def taken(p: str) -> bool:
            return any(n.startswith(p) for n in names)
    prefix, k = base, 1
    while taken(prefix):
        prefix, k = f"{base}{k}_", k + 1
    return prefix


def shape_inferred(model: onnx.ModelProto, first: onnx.ModelProto | None = None, **options) -> onnx.ModelProto:
    """onnxscore's one call into ONNX shape inference, best effort: `first` (default `model`) with data
    propagation, then `model` without it; `model` itself when both fail (callers fall back to run-time
    shapes). `options` go to onnx.shape_inference.infer_shapes (edge/macs relaxes type checks)."""
    for attempt, data_prop in ((first if first is not None else model, True), (model, False)):
        try:
            return onnx.shape_inference.infer_shapes(attempt, data_prop=data_prop, **options)
        except Exception:  # inference is best effort
            continue
    return model


TensorInfo = tuple  # (element type, rank or None, per-sample dims or None, first dim: int, symbol or None)


def infer_tensors(model: onnx.ModelProto, input_name: str | None = None,
                  sample_shape: tuple[int, ...] | None = None) -> dict[str, TensorInfo]:
    """Tensor name -> (element type, rank or None, per-sample dims or None, first dim) from ONE best-effort shape
    inference, with the input's per-sample sizes filled in when given (so site sizes come out concrete).

    The scorer calls this once and hands the result to the BN pass, the site sizing and the exposure,
    so a model costs one shape inference (about 0.01 s per pass on an NB201 net)."""
    probe = model
    if input_name is not None and sample_shape is not None:
        probe = onnx.ModelProto()
        probe.CopyFrom(model)
        for vi in probe.graph.input:
            if vi.name == input_name:
                for d, size in zip(list(vi.type.tensor_type.shape.dim)[1:], sample_shape):
                    d.Clear()
                    d.dim_value = size
    g = shape_inferred(model, probe).graph
    info: dict[str, TensorInfo] = {}
    for v in list(g.value_info) + list(g.input) + list(g.output):
        if v.type.HasField("tensor_type"):
            tt = v.type.tensor_type
            dims = list(tt.shape.dim) if tt.HasField("shape") else None
            sample = (tuple(d.dim_value for d in dims[1:])
                      if dims is not None and all(d.HasField("dim_value") for d in dims[1:]) else None)
            lead = (dims[0].dim_value if dims[0].HasField("dim_value") else dims[0].dim_param or None) if dims else None
            info[v.name] = (tt.elem_type, len(dims) if dims is not None else None, sample, lead)
    for t in g.initializer:
        info[t.name] = (t.data_type, len(t.dims), None, None)
    return info


def tensor_info(model: onnx.ModelProto) -> dict[str, tuple[int, int | None]]:
    """Tensor name -> (element type, rank or None), from one best-effort shape inference."""
    return {k: v[:2] for k, v in infer_tensors(model).items()}
