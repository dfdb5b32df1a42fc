"""HardSwish: x * hard_sigmoid(x), e.g. x * relu6(x + 3) / 6 (tf2onnx) or x * HardSigmoid(x)."""
from __future__ import annotations

from onnxscore.graph.patterns import Region, pattern
from onnxscore.graph.patterns._algebra import mono, same, top_match
from onnxscore.graph.patterns._hardgate import gate


@pattern("hardswish", anchors=("Clip", "HardSigmoid"))
def match(view, i: int) -> Region | None:
    found = gate(view, i)
    if found is None:
        return None
    x, k, inner = found
    g = view.graph.node[i].output[0]
    top = top_match(view, i, lambda p: same(p, {mono(x, g): k}))
    if top is None:
        return None
    last, outer = top
    return Region("hardswish", "HardSwish", x, view.graph.node[last].output[0], frozenset(inner | outer | {i}), last)
