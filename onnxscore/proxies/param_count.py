"""param_count: the trainable parameter count (onnxscore.graph.params), as a proxy.

The same number as the `params` baseline that evaluate and search always report; registered as a proxy so
that an ensemble can take it as a member (on NAS-Bench-101 the members chosen on a development half all do).
"""
from __future__ import annotations

from onnxscore.proxies.registry import register


@register("param_count", "trainable parameter count (the params baseline), from the graph, no run",
          needs=("graph",))
def param_count(model, ctx) -> float:
    from onnxscore.graph.params import count_params

    return float(count_params(model))
