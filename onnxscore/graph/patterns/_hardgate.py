"""The gate shared by HardSigmoid and HardSwish: hard_sigmoid(x) = k * g for a gate node g."""
from __future__ import annotations

from onnxscore.graph.patterns._algebra import affine_inputs, close, scalar
from onnxscore.graph.view import attr

SIXTH = 1 / 6


def gate(view, i: int) -> tuple[str, float, set[int]] | None:
    """(x, k, nodes) when node i is clip(x + 3, 0, 6) (k = 1/6), clip(x / 6 + 0.5, 0, 1) (k = 1) or
    HardSigmoid(x) with alpha 1/6, beta 0.5 (k = 1), the forms torch.onnx and tf2onnx write."""
    node = view.graph.node[i]
    if node.op_type == "HardSigmoid":
        ok = close(attr(node, "alpha", 0.2), SIXTH) and close(attr(node, "beta", 0.5), 0.5)
        return (node.input[0], 1.0, set()) if ok else None
    if node.op_type != "Clip" or len(node.input) < 3:
        return None
    bounds = (scalar(view, node.input[1]), scalar(view, node.input[2]))
    want = {(0.0, 6.0): ((1.0, 3.0), SIXTH), (0.0, 1.0): ((SIXTH, 0.5), 1.0)}.get(bounds)
    if want is None:
        return None
    (a, b), k = want
    for x, got_a, got_b, inner in affine_inputs(view, node.input[0]):
        if close(got_a, a) and close(got_b, b):
            return x, k, inner
    return None
