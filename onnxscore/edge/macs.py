"""Multiply-accumulate (MAC) counts per sample, per op type, from an ONNX graph's inferred shapes.

No maintained library fits onnxscore's dependency set (onnx-tool, thop, fvcore, ptflops, ... are either
framework-bound or extra dependencies), so this is a small counter over `onnx.shape_inference` output.
Convention (xautodl / NAS-Bench-201): only Conv/ConvTranspose/Gemm/MatMul (and their quantized forms) are
charged; Conv = k_h*k_w*Cin/groups*Cout*Hout*Wout, Gemm = M*K*N plus M*N for a bias input, MatMul =
(batch dims)*M*K*N, plus one per output element when its only consumer is an Add of a constant vector (a
Linear on a 3-D input, which exporters write as MatMul + Add: the same layer as a Gemm with a bias, so it
is charged the same). Attention's activation-by-activation MatMuls count as MatMuls. A Conv bias is not charged (an exported, BN-folded conv gains one the source net did
not have). Counts are per sample: a symbolic batch dim is set to 1, a static batch B divides the total.
Nodes inside If/Loop/Scan bodies are not counted (reported in `subgraph_nodes`).

Shapes: `onnx.shape_inference` on a weight-free copy with the real input shape; when it leaves a counted
node (or any activation) unsized, as it does on torch.onnx's optimize=False graphs, the missing shapes are
recorded from one onnxruntime run of the model (onnxscore.edge.runshapes). A counted node that is still
unsized is listed in `unknown` (its MACs are not in the total, which is then a lower bound), never dropped
silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import prod
from typing import Sequence

import onnx
from onnx import helper

from onnxscore.errors import InputError, ModelLoadError
from onnxscore.graph.view import attr, shape_inferred

# Small initializers are kept (their values feed shape data propagation, e.g. Reshape targets); larger
# ones become typed graph inputs so shape inference never copies weight data.
_KEEP_INITIALIZER_ELEMENTS = 64


@dataclass
class ShapeInfo:
    """Inferred per-sample shapes of every tensor of a model (dims None where unknown)."""

    shapes: dict[str, list[int] | None]
    elem_types: dict[str, int]
    weights: set[str]
    graph: onnx.GraphProto
    batch: int
    data_inputs: list[str] = field(default_factory=list)
    subgraph_nodes: int = 0
    source: str = "shape inference"  # or "shape inference + onnxruntime run"
    runtime_error: str | None = None  # why the onnxruntime run that should have filled the gaps failed


@dataclass
class MacReport:
    """MACs of one model per sample: total and per op type; `unknown` names nodes whose shapes were not inferred."""

    total: int
    by_op_type: dict[str, int]
    batch: int = 1
    unknown: list[str] = field(default_factory=list)
    subgraph_nodes: int = 0
    shape_source: str = "shape inference"
    runtime_error: str | None = None

    def to_dict(self) -> dict:
        """JSON-ready dict."""
        return {
            "macs": self.total,
            "macs_by_op_type": dict(self.by_op_type),
            "batch_divided_by": self.batch,
            "unknown_nodes": list(self.unknown),
            "subgraph_nodes": self.subgraph_nodes,
            "shape_source": self.shape_source,
            "runtime_error": self.runtime_error,
        }


def load_proto(model) -> onnx.ModelProto:
    """Accept a path, bytes, ModelProto or the core's LoadedModel and return the ModelProto."""
    if isinstance(model, onnx.ModelProto):
        return model
    proto = getattr(model, "proto", None)
    if isinstance(proto, onnx.ModelProto):
        return proto
    try:
        from onnxscore.loaders import load_model
    except ImportError:  # pragma: no cover - core loader not present
        try:
            if isinstance(model, (bytes, bytearray)):
                return onnx.load_from_string(bytes(model))
            return onnx.load(str(model), load_external_data=False)
        except Exception as exc:
            raise ModelLoadError(f"cannot read ONNX model {model!r}: {exc}; pass a valid .onnx file") from exc
    loaded = load_model(model)
    return getattr(loaded, "proto", loaded)


def tensor_dims(vi_type: onnx.TypeProto) -> list | None:
    """Dims of a tensor type as ints or dim_param strings/None; None when the rank is unknown."""
    if not vi_type.HasField("tensor_type") or not vi_type.tensor_type.HasField("shape"):
        return None
    out = []
    for d in vi_type.tensor_type.shape.dim:
        if d.HasField("dim_value"):
            out.append(int(d.dim_value))
        elif d.HasField("dim_param"):
            out.append(d.dim_param)
        else:
            out.append(None)
    return out


def data_input_names(graph: onnx.GraphProto) -> list[str]:
    """Graph inputs that are not initializers (the data the model is fed)."""
    inits = {t.name for t in graph.initializer}
    return [i.name for i in graph.input if i.name not in inits]


def _per_sample_shape(name: str, dims: list | None, axis0_batch: bool, input_shape) -> list[int]:
    """Concrete shape of one data input with a symbolic batch set to 1; raise when another dim is unknown."""
    if input_shape is not None:
        shp = [int(s) for s in input_shape]
        if dims is None or len(shp) == len(dims) - 1:
            shp = [1] + shp
        return shp
    if dims is None:
        raise InputError(f"input '{name}' has no shape in the model; pass input_shape (e.g. 3,32,32)")
    out = []
    for ax, d in enumerate(dims):
        if isinstance(d, int) and d > 0:
            out.append(d)
        elif ax == 0 and axis0_batch:
            out.append(1)
        else:
            raise InputError(
                f"input '{name}' has symbolic dim {d!r} at axis {ax}; pass input_shape (e.g. 3,32,32)"
            )
    return out


def infer_static_shapes(model, input_shape: Sequence[int] | None = None, *, run: bool = True) -> ShapeInfo:
    """Shape-infer a weight-free copy of `model` with the batch fixed at 1 (or kept when static) and return all shapes;
    with `run`, shapes inference leaves unknown are recorded from one onnxruntime run when a counted node needs them."""
    external_dir = getattr(model, "external_dir", None)
    m = load_proto(model)
    if any(f for f in m.functions):
        try:
            from onnx import inliner

            m = inliner.inline_local_functions(m)
        except Exception:  # pragma: no cover - old onnx without the inliner
            pass
    g = m.graph
    data_inputs = data_input_names(g)
    if not data_inputs:
        raise InputError("model has no data input (every graph input is an initializer); nothing to count")

    new_inputs = []
    batch = 1
    for idx, vi in enumerate(x for x in g.input if x.name in set(data_inputs)):
        dims = tensor_dims(vi.type)
        shp = _per_sample_shape(vi.name, dims, True, input_shape if idx == 0 else None)
        if idx == 0:
            batch = shp[0] if shp and shp[0] > 0 else 1
        elem = vi.type.tensor_type.elem_type or onnx.TensorProto.FLOAT
        new_inputs.append(helper.make_tensor_value_info(vi.name, elem, shp))

    kept, lifted = [], []
    weights: set[str] = set()
    elem_types: dict[str, int] = {}
    shapes: dict[str, list[int] | None] = {}
    for t in g.initializer:
        weights.add(t.name)
        elem_types[t.name] = t.data_type
        shapes[t.name] = [int(d) for d in t.dims]
        if prod(t.dims) <= _KEEP_INITIALIZER_ELEMENTS and t.data_location != onnx.TensorProto.EXTERNAL:
            kept.append(t)
        else:
            lifted.append(helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)))

    skel_graph = helper.make_graph(
        list(g.node), g.name or "g", new_inputs + lifted, list(g.output), initializer=kept
    )
    skel = helper.make_model(skel_graph, opset_imports=list(m.opset_import))
    skel.ir_version = m.ir_version if m.ir_version else 10
    ig = shape_inferred(skel, check_type=False, strict_mode=False).graph

    for vi in list(ig.input) + list(ig.value_info) + list(ig.output):
        if vi.name in weights:
            continue
        d = tensor_dims(vi.type)
        shapes[vi.name] = [x if isinstance(x, int) else None for x in d] if d is not None else None
        if shapes[vi.name] is not None and any(x is None for x in shapes[vi.name]):
            shapes[vi.name] = None
        elem_types[vi.name] = vi.type.tensor_type.elem_type

    subgraph_nodes = 0
    for node in g.node:
        for a in node.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                subgraph_nodes += _count_nodes(a.g)
            elif a.type == onnx.AttributeProto.GRAPHS:
                subgraph_nodes += sum(_count_nodes(sg) for sg in a.graphs)
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx") and node.output:
            weights.add(node.output[0])
            for a in node.attribute:
                if a.name == "value" and a.type == onnx.AttributeProto.TENSOR:
                    shapes[node.output[0]] = [int(d) for d in a.t.dims]
                    elem_types[node.output[0]] = a.t.data_type
    info = ShapeInfo(shapes, elem_types, weights, g, batch, data_inputs, subgraph_nodes)
    if run and _unsized_counted(info):
        _fill_from_run(info, m, new_inputs, external_dir)
    return info


def _unsized_counted(info: ShapeInfo) -> list[onnx.NodeProto]:
    """Counted nodes whose MACs the current shapes cannot give."""
    def s(name):
        return info.shapes.get(name) if name else None

    return [n for n in info.graph.node
            if n.domain in ("", "ai.onnx") and n.op_type in _COUNTERS and _COUNTERS[n.op_type](n, s) is None]


def _fill_from_run(info: ShapeInfo, model: onnx.ModelProto, inputs: list, external_dir: str | None) -> None:
    """Record every unsized activation from one onnxruntime run (the memory walk needs them too)."""
    from onnxscore.edge.runshapes import record_shapes

    missing = [o for n in info.graph.node for o in n.output
               if o and o not in info.weights and info.shapes.get(o) is None]
    feeds = {vi.name: ([d.dim_value for d in vi.type.tensor_type.shape.dim], vi.type.tensor_type.elem_type)
             for vi in inputs}
    got, err = record_shapes(model, feeds, missing, external_dir)
    info.shapes.update(got)
    info.source = "shape inference + onnxruntime run"
    info.runtime_error = err


def _count_nodes(g: onnx.GraphProto) -> int:
    """Nodes of a subgraph, recursively."""
    n = 0
    for node in g.node:
        n += 1
        for a in node.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                n += _count_nodes(a.g)
            elif a.type == onnx.AttributeProto.GRAPHS:
                n += sum(_count_nodes(sg) for sg in a.graphs)
    return n


def _conv(node, s) -> int | None:
    w, y = s(node.input[1]), s(node.output[0])
    if w is None or y is None:
        return None
    return prod(y) * prod(w[1:])


def _conv_at(widx: int):
    def f(node, s):
        w, y = s(node.input[widx]), s(node.output[0])
        if w is None or y is None:
            return None
        return prod(y) * prod(w[1:])

    return f


def _conv_transpose(node, s) -> int | None:
    x, w = s(node.input[0]), s(node.input[1])
    if x is None or w is None:
        return None
    return prod(x) * prod(w[1:])


def _gemm(node, s) -> int | None:
    a, b = s(node.input[0]), s(node.input[1])
    if a is None or b is None or len(a) != 2 or len(b) != 2:
        return None
    m, k = (a[1], a[0]) if attr(node, "transA", 0) else (a[0], a[1])
    n = b[0] if attr(node, "transB", 0) else b[1]
    macs = m * k * n
    if len(node.input) > 2 and node.input[2]:
        macs += m * n
    return macs


def _matmul_at(aidx: int, bidx: int):
    def f(node, s):
        a, y = s(node.input[aidx]), s(node.output[0])
        if a is None or not a:
            return None
        if y is None:
            b = s(node.input[bidx])
            if b is None:
                return None
            y = _matmul_shape(a, b)
            if y is None:
                return None
        return prod(y) * a[-1]

    return f


def _matmul_shape(a: list[int], b: list[int]) -> list[int] | None:
    """numpy.matmul output shape (for when shape inference left the output unknown)."""
    a2 = [1] + a if len(a) == 1 else a
    b2 = b + [1] if len(b) == 1 else b
    if len(a2) < 2 or len(b2) < 2:
        return None
    ba, bb = a2[:-2], b2[:-2]
    n = max(len(ba), len(bb))
    ba, bb = [1] * (n - len(ba)) + ba, [1] * (n - len(bb)) + bb
    batch = [max(x, y) for x, y in zip(ba, bb)]
    return batch + [a2[-2], b2[-1]]


_COUNTERS = {
    "Conv": _conv,
    "ConvInteger": _conv,
    "QLinearConv": _conv_at(3),
    "ConvTranspose": _conv_transpose,
    "Gemm": _gemm,
    "MatMul": _matmul_at(0, 1),
    "MatMulInteger": _matmul_at(0, 1),
    "QLinearMatMul": _matmul_at(0, 3),
}

COUNTED_OP_TYPES = tuple(_COUNTERS)


def _matmul_bias(y: str, users: list[onnx.NodeProto], info: ShapeInfo) -> int:
    """Output elements of MatMul output `y` when its only reader adds a constant vector over the last axis."""
    if len(users) != 1 or users[0].op_type != "Add" or len(users[0].input) != 2:
        return 0
    other = [i for i in users[0].input if i != y]
    shp, b = info.shapes.get(y), info.shapes.get(other[0]) if len(other) == 1 else None
    if other and other[0] in info.weights and shp and b and prod(b) == b[-1] == shp[-1]:
        return prod(shp)
    return 0


def count_macs(model, input_shape: Sequence[int] | None = None) -> MacReport:
    """MACs per sample of `model` (path, bytes or ModelProto) over Conv/ConvTranspose/Gemm/MatMul, per op type."""
    info = infer_static_shapes(model, input_shape)
    return count_macs_from_shapes(info)


def count_macs_from_shapes(info: ShapeInfo) -> MacReport:
    """MACs per sample from an already computed ShapeInfo."""

    def s(name: str):
        return info.shapes.get(name) if name else None

    by_op: dict[str, int] = {}
    unknown: list[str] = []
    readers: dict[str, list[onnx.NodeProto]] = {}
    for node in info.graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node)
    outputs = {o.name for o in info.graph.output}
    for node in info.graph.node:
        fn = _COUNTERS.get(node.op_type) if node.domain in ("", "ai.onnx") else None
        if fn is None:
            continue
        macs = fn(node, s)
        if macs is None:
            unknown.append(node.name or f"{node.op_type}->{node.output[0]}")
            continue
        if node.op_type == "MatMul" and node.output[0] not in outputs:
            macs += _matmul_bias(node.output[0], readers.get(node.output[0], []), info)
        by_op[node.op_type] = by_op.get(node.op_type, 0) + int(macs)
    b = max(int(info.batch), 1)
    by_op = {k: int(round(v / b)) for k, v in by_op.items()}
    return MacReport(sum(by_op.values()), by_op, b, unknown, info.subgraph_nodes, info.source, info.runtime_error)

