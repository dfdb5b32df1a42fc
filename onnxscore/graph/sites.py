"""Find the activation sites: the tensors whose sign gives each unit's binary code (docs/PROXIES.md)."""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from onnxscore.errors import ProxyError
from onnxscore.graph.patterns import find_regions
from onnxscore.graph.view import GraphView, attr, subgraphs

# The paper's sites (ReLU family). The code of a unit is 1[pre-activation > 0]; for these ops the
# output is > 0 exactly when the input is, so the output is binarised (this keeps Conv+Relu fusion).
PAPER_OPS = ("Relu", "Clip", "LeakyRelu", "PRelu")
# Extension, only on request: other activations, coded by the sign of their input. Exporters' decompositions
# of them (GELU as an Erf chain, x * sigmoid(x), ...) are matched by the patterns in graph/patterns.
EXTENDED_OPS = ("Gelu", "HardSwish", "HardSigmoid", "Elu", "Selu", "Celu", "Softplus", "Mish", "Swish")
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


def find_sites(view: GraphView, activations: str = "relu") -> list[Site]:
    """Activation sites in execution order; `activations` is "relu" (the papers') or "extended"."""
    if activations not in ("relu", "extended"):
        from onnxscore.errors import InputError

        raise InputError(f"unknown activation set '{activations}'; use 'relu' or 'extended'")
    # a decomposed activation is one site at its last node; its inner ops (an Erf, a Sigmoid, the
    # Clip(x + 3, 0, 6) of a hard-swish) are never sites, with either activation set
    regions = find_regions(view)
    inside = {i for r in regions for i in r.nodes}
    ends = {r.last: r for r in regions}
    sites: list[Site] = []
    for i in view.order:
        node = view.graph.node[i]
        tensor, op_type, out = None, node.op_type, node.output[0]
        if i in ends:
            if activations != "extended":
                continue
            region = ends[i]
            tensor, op_type, out = region.input, region.op_type, region.output
        elif i in inside:
            continue
        elif node.op_type in PAPER_OPS:
            if _sign_preserving(view, node):
                tensor = node.output[0]
            elif node.op_type in ("LeakyRelu", "PRelu"):
                tensor = node.input[0]  # negative slope: the sign of the input is the code
        elif activations == "extended" and node.op_type in EXTENDED_OPS:
            tensor = node.input[0]
        if tensor is None:
            continue
        merged = sum(
            view.graph.node[c].op_type in WEIGHTED_CONSUMERS for c in view.consumers.get(out, [])
        )
        sites.append(Site(len(sites), node.name or out, op_type, tensor, merged))
    return sites


def count_by_op(sites: list[Site]) -> str:
    """'10 Relu, 2 Clip': how many sites of each op type, in order of first appearance."""
    by_op: dict[str, int] = {}
    for s in sites:
        by_op[s.op_type] = by_op.get(s.op_type, 0) + 1
    return ", ".join(f"{n} {op}" for op, n in by_op.items())


def _subgraph_reads(node) -> list[str]:
    """Tensors read inside a node's If/Loop/Scan bodies (outer-scope values among them)."""
    names = []
    for g in subgraphs(node):
        for n in g.node:
            names.extend(n.input)
            names.extend(_subgraph_reads(n))
    return names


def input_dependent(view: GraphView, source: str) -> set[str]:
    """Tensors computed from graph input `source` (a walk forward from it over consumers, including
    nodes whose If/Loop/Scan bodies read a tensor from the outer graph). Paths through Shape count:
    NB201's `none` edges are zeros of the input's shape, and the ReLUs after them are sites in the
    authors' code (constant codes, but one row per sample)."""
    readers = {t: list(c) for t, c in view.consumers.items()}
    for i, node in enumerate(view.graph.node):
        if subgraphs(node):
            for t in set(_subgraph_reads(node)):
                readers.setdefault(t, []).append(i)
    dep, todo, seen = {source}, [source], set()
    while todo:
        for i in readers.get(todo.pop(), ()):
            node = view.graph.node[i]
            if i in seen:
                continue
            seen.add(i)
            new = [o for o in node.output if o and o not in dep]
            dep.update(new)
            todo.extend(new)
    return dep


def batch_sites(sites: list[Site], dependent: set[str]) -> tuple[list[Site], list[Site]]:
    """(sites whose tensor depends on the batch input, re-indexed; the others). An activation
    computed from weights and constants alone has the same code for every sample: it is not a site."""
    kept = [s for s in sites if s.tensor in dependent]
    return [replace(s, index=k) for k, s in enumerate(kept)], [s for s in sites if s.tensor not in dependent]


def _size(dim) -> int | str | None:
    """A first dimension as inferred: a static size, a symbol, or None (unknown, or a non-size <= 0)."""
    if isinstance(dim, str):
        return dim
    return dim if isinstance(dim, int) and dim > 0 else None


def check_batch_axis(sites: list[Site], info: dict, batch_input: str, label: str = "the model") -> None:
    """Refuse a site whose first axis is not the batch axis (ProxyError naming it), from shape inference.

    The batch input's first dimension is symbolic (or the file's fixed batch); a site tensor whose first
    dimension is another static size, or which has no axis, does not hold one row per sample (a
    Transpose moved the batch, a Reshape baked a size in). Dropping such a site would score a different
    network under the same name, so it is an error. Unknown dimensions pass (onnxruntime's row count
    is checked again at run time)."""
    batch = _size(info.get(batch_input, (None, None, None, None))[3])
    for site in sites:
        entry = info.get(site.tensor)
        if entry is None:
            continue
        rank, lead = entry[1], _size(entry[3])
        why = None
        if rank == 0:
            why = "is a scalar, with no batch axis"
        elif isinstance(lead, int) and lead != batch:
            shown = f"the fixed {batch}" if isinstance(batch, int) else "symbolic"
            why = f"has a first dimension of static size {lead}, while the batch of input '{batch_input}' is {shown}"
        if why:
            raise ProxyError(
                f"activation site '{site.node}' ({site.op_type}) of {label} {why}; onnxscore reads one row per sample "
                "from every site: export the model with the batch as the first axis of every activation"
            )


def subgraph_activations(view: GraphView) -> int:
    """Activation ops hidden inside If/Loop/Scan bodies (they cannot become graph outputs)."""
    count = 0

    def walk(graph):
        nonlocal count
        for n in graph.node:
            for g in subgraphs(n):
                count += sum(m.op_type in PAPER_OPS for m in g.node)
                walk(g)

    walk(view.graph)
    return count
