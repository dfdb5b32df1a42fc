"""Does the graph normalise anything? A normalisation op, or a mean that feeds a standard deviation.

The folded-BatchNorm warning needs this: a `ReduceMean` that is a global average pool normalises
nothing, while BatchNorm written as arithmetic (tf2onnx's Keras training=True trace) is a ReduceMean
whose result reaches a Sqrt (or x^-0.5) through a few elementwise ops."""
from __future__ import annotations

from onnxscore.graph.patterns._algebra import scalar
from onnxscore.graph.view import GraphView

NORMALISATION_OPS = {"BatchNormalization", "InstanceNormalization", "LayerNormalization",
                     "GroupNormalization", "MeanVarianceNormalization"}
# ops a mean passes through on its way to the variance and its square root
_ARITHMETIC = {"Sub", "Mul", "Div", "Add", "Pow", "ReduceMean", "Cast", "Identity", "Unsqueeze", "Squeeze",
               "Reshape", "Expand", "Neg", "Abs"}
_STEPS = 6


def _is_root(view: GraphView, node) -> bool:
    """Sqrt, Reciprocal of a root, or Pow by +-0.5: the standard deviation step of a normalisation."""
    if node.op_type == "Sqrt":
        return True
    return node.op_type == "Pow" and scalar(view, node.input[1]) in (0.5, -0.5)


def mean_feeds_root(view: GraphView, i: int) -> bool:
    """True when ReduceMean node i reaches a square root within a few elementwise steps."""
    frontier, seen = [i], {i}
    for _ in range(_STEPS):
        nxt = []
        for j in frontier:
            for out in view.graph.node[j].output:
                for c in view.consumers.get(out, ()):
                    node = view.graph.node[c]
                    if _is_root(view, node):
                        return True
                    if c not in seen and node.op_type in _ARITHMETIC:
                        seen.add(c)
                        nxt.append(c)
        frontier = nxt
    return False


def has_normalisation(view: GraphView) -> bool:
    """A BatchNorm/LayerNorm/... op, or a ReduceMean that is the mean of a normalisation."""
    nodes = view.graph.node
    if any(n.op_type in NORMALISATION_OPS for n in nodes):
        return True
    return any(n.op_type == "ReduceMean" and mean_feeds_root(view, i) for i, n in enumerate(nodes))
