"""Dead nodes: those no graph output depends on. onnxruntime with its graph rewrites turned off runs
them all the same, so graphs built by appending sections (zico's halves leave the full-batch forward
unread) are pruned before a session opens. (rewrites/prune_dead is the converters' narrower pass:
only constant-shuffling nodes of a user's model.)"""
from __future__ import annotations

import onnx


def drop_unused_nodes(model: onnx.ModelProto) -> int:
    """Remove (in place) the nodes no graph output depends on; the count removed. Nodes are taken to
    be in execution order, as the ONNX format requires."""
    needed = {o.name for o in model.graph.output}
    keep = []
    for node in reversed(model.graph.node):
        if any(o in needed for o in node.output):
            needed.update(_reads(node))
            keep.append(node)
    removed = len(model.graph.node) - len(keep)
    if removed:
        del model.graph.node[:]
        model.graph.node.extend(reversed(keep))
    return removed


def _reads(node: onnx.NodeProto) -> set[str]:
    """The tensors a node reads: its inputs and, for If/Loop/Scan, every name its subgraphs read."""
    names = {i for i in node.input if i}
    for a in node.attribute:
        for g in ([a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)):
            for inner in g.node:
                names |= _reads(inner)
    return names
