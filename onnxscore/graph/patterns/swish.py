"""SiLU / Swish: x * sigmoid(beta * x) with beta > 0 (torch.onnx and tf2onnx write Mul(x, Sigmoid(x)))."""
from __future__ import annotations

from onnxscore.graph.patterns import Region, pattern
from onnxscore.graph.patterns._algebra import expand, linear_in, mono, same, top_match


@pattern("swish", anchors=("Sigmoid",))
def match(view, i: int) -> Region | None:
    sig = view.graph.node[i]
    inner: set[int] = set()
    lin = linear_in(expand(view, sig.input[0], inner, top=False))
    if lin is None or lin[1] <= 0:
        return None
    x, s = lin[0], sig.output[0]
    found = top_match(view, i, lambda p: same(p, {mono(x, s): 1.0}))
    if found is None:
        return None
    last, outer = found
    return Region("swish", "Swish", x, view.graph.node[last].output[0], frozenset(inner | outer | {i}), last)
