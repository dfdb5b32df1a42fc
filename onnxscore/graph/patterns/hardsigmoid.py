"""HardSigmoid decomposed: relu6(x + 3) / 6 or clip(x / 6 + 0.5, 0, 1) (tf2onnx, Keras hard_sigmoid)."""
from __future__ import annotations

from onnxscore.graph.patterns import Region, pattern
from onnxscore.graph.patterns._algebra import leaf, same, top_match
from onnxscore.graph.patterns._hardgate import gate


@pattern("hardsigmoid", anchors=("Clip",))
def match(view, i: int) -> Region | None:
    found = gate(view, i)
    if found is None:
        return None
    x, k, inner = found
    g = view.graph.node[i].output[0]
    top = top_match(view, i, lambda p: same(p, {leaf(g): k}))
    if top is None:
        return None
    last, outer = top
    return Region("hardsigmoid", "HardSigmoid", x, view.graph.node[last].output[0], frozenset(inner | outer | {i}), last)
