"""grasp (T = 1, one iteration): -sum over weights of W * (H g), H the Hessian of the CE loss."""
from onnxscore.proxies.gradient.captured import Captured, f64, total
from onnxscore.proxies.gradient.registry import HVP, WEIGHTS_ONLY, register


@register("grasp", {HVP, WEIGHTS_ONLY}, "-sum of W * Hg, g = dCE/dW (exact Hessian-vector product)")
def grasp(c: Captured) -> float:
    return -total((f64(c.weights[k]) * f64(h)).sum() for k, h in c.hvp.items())
