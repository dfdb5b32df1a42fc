"""synflow (bn=False, float64): S = sum |W * dR/dW| on |params| with one all-ones input; NASLib's
log value (log S, -log(-S) when S < 0, 0 when S = 0)."""
import math

import numpy as np

from onnxscore.proxies.gradient.captured import Captured, total
from onnxscore.proxies.gradient.registry import SYNFLOW_GRAPH, register


def naslib_log(s: float) -> float:
    if s > 0:
        return math.log(s)
    return -math.log(-s) if s < 0 else 0.0


@register("synflow", {SYNFLOW_GRAPH}, "log of sum |W * dR/dW|, R = sum of f(ones) on |params|, no BN, float64")
def synflow(c: Captured) -> float:
    s = total(np.abs(c.synflow_weights[k] * g).sum() for k, g in c.synflow_grads.items())
    return naslib_log(s) if math.isfinite(s) else s
