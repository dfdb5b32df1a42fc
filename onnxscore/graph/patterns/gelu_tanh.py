"""GELU, tanh form: 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3))) (torch.onnx, tf2onnx)."""
from __future__ import annotations

import math

from onnxscore.graph.patterns import Region, pattern
from onnxscore.graph.patterns._algebra import expand, leaf, mono, same, top_match

A = math.sqrt(2 / math.pi)
B = A * 0.044715


@pattern("gelu_tanh", anchors=("Tanh",))
def match(view, i: int) -> Region | None:
    tanh = view.graph.node[i]
    inner: set[int] = set()
    p = expand(view, tanh.input[0], inner, top=False)
    xs = [m[0][0] for m in (p or {}) if len(m) == 1 and m[0][1] == 1]
    if len(xs) != 1 or not same(p, {leaf(xs[0]): A, leaf(xs[0], 3): B}, rel=1e-4):
        return None
    x, t = xs[0], tanh.output[0]
    found = top_match(view, i, lambda q: same(q, {leaf(x): 0.5, mono(x, t): 0.5}))
    if found is None:
        return None
    last, outer = found
    return Region("gelu_tanh", "Gelu", x, view.graph.node[last].output[0], frozenset(inner | outer | {i}), last)
