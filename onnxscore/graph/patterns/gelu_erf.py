"""GELU, exact form: 0.5 * x * (1 + erf(x / sqrt(2))), as torch.onnx writes it below opset 20, or
0.5 * x * (1 - erf(-x / sqrt(2))), TensorFlow's 0.5 * x * erfc(-x / sqrt(2)) through tf2onnx."""
from __future__ import annotations

import math

from onnxscore.graph.patterns import Region, pattern
from onnxscore.graph.patterns._algebra import close, expand, leaf, linear_in, mono, same, top_match


@pattern("gelu_erf", anchors=("Erf",))
def match(view, i: int) -> Region | None:
    erf = view.graph.node[i]
    inner: set[int] = set()
    lin = linear_in(expand(view, erf.input[0], inner, top=False))
    if lin is None or not close(abs(lin[1]), 1 / math.sqrt(2)):
        return None
    x, e, sign = lin[0], erf.output[0], math.copysign(1.0, lin[1])  # erf is odd: 1 - erf(-z) = 1 + erf(z)
    found = top_match(view, i, lambda p: same(p, {leaf(x): 0.5, mono(x, e): 0.5 * sign}))
    if found is None:
        return None
    last, outer = found
    return Region("gelu_erf", "Gelu", x, view.graph.node[last].output[0], frozenset(inner | outer | {i}), last)
