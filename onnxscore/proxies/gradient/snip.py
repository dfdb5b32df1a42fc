"""snip: sum over weights of |W * dL/dW|."""
import numpy as np

from onnxscore.proxies.gradient.captured import Captured, f64, total
from onnxscore.proxies.gradient.registry import LOSS_GRAD_WEIGHTS, WEIGHTS_ONLY, register


@register("snip", {LOSS_GRAD_WEIGHTS, WEIGHTS_ONLY}, "sum of |W * dCE/dW| over Conv/Linear weights")
def snip(c: Captured) -> float:
    return total(np.abs(f64(c.weights[k]) * f64(g)).sum() for k, g in c.grads.items())
