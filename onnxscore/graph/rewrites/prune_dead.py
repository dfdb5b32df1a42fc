"""Constant-shuffling nodes and initializers nothing reads any more, removed."""
from __future__ import annotations

import onnx

from onnxscore.graph.rewrites import all_nodes, rewrite  # noqa: F401

_PURE = {"Constant", "Identity", "Cast", "CastLike", "Squeeze", "Unsqueeze", "Reshape", "Shape"}


@rewrite("prune-dead")
def prune_dead(model: onnx.ModelProto) -> int:
    """Drop constant-shuffling nodes and initializers nothing reads any more (left behind by the
    rewrites above); returns how many nodes went."""
    removed = 0
    while True:
        used = {i for n in all_nodes(model.graph) for i in n.input} | {o.name for o in model.graph.output}
        keep = [n for n in model.graph.node
                if n.op_type not in _PURE or any(o in used for o in n.output)]
        if len(keep) == len(model.graph.node):
            break
        removed += len(model.graph.node) - len(keep)
        del model.graph.node[:]
        model.graph.node.extend(keep)
    inputs = {i.name for i in model.graph.input}
    inits = [t for t in model.graph.initializer if t.name in used or t.name in inputs]
    if len(inits) != len(model.graph.initializer):
        del model.graph.initializer[:]
        model.graph.initializer.extend(inits)
    return removed
