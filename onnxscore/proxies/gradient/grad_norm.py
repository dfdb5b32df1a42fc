"""grad_norm: sum over weight tensors of ||dL/dW||_2 (per-tensor norms summed, quirk Q2)."""
import numpy as np

from onnxscore.proxies.gradient.captured import Captured, f64, total
from onnxscore.proxies.gradient.registry import LOSS_GRAD_WEIGHTS, register


@register("grad_norm", {LOSS_GRAD_WEIGHTS}, "sum of per-tensor Frobenius norms of dCE/dW")
def grad_norm(c: Captured) -> float:
    return total(np.linalg.norm(f64(g).ravel()) for g in c.grads.values())
