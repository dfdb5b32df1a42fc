"""Mish: x * tanh(softplus(x)) (tf2onnx; torch.onnx writes the Mish op)."""
from __future__ import annotations

from onnxscore.graph.patterns import Region, pattern
from onnxscore.graph.patterns._algebra import close, expand, linear_in, mono, same, top_match


@pattern("mish", anchors=("Softplus",))
def match(view, i: int) -> Region | None:
    soft = view.graph.node[i]
    inner: set[int] = set()
    lin = linear_in(expand(view, soft.input[0], inner, top=False))
    readers = view.consumers.get(soft.output[0], [])
    if lin is None or not close(lin[1], 1.0) or len(readers) != 1 or view.graph.node[readers[0]].op_type != "Tanh":
        return None
    x, tanh = lin[0], readers[0]
    t = view.graph.node[tanh].output[0]
    found = top_match(view, tanh, lambda p: same(p, {mono(x, t): 1.0}))
    if found is None:
        return None
    last, outer = found
    return Region("mish", "Mish", x, view.graph.node[last].output[0], frozenset(inner | outer | {i, tanh}), last)
