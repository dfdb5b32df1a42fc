"""plain: sum over weights of W * dL/dW, signed (quirk Q6)."""
from onnxscore.proxies.gradient.captured import Captured, f64, total
from onnxscore.proxies.gradient.registry import LOSS_GRAD_WEIGHTS, WEIGHTS_ONLY, register


@register("plain", {LOSS_GRAD_WEIGHTS, WEIGHTS_ONLY}, "signed sum of W * dCE/dW over Conv/Linear weights")
def plain(c: Captured) -> float:
    return total((f64(c.weights[k]) * f64(g)).sum() for k, g in c.grads.items())
