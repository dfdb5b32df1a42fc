"""l2_norm: sum over weight tensors of ||W||_2 (no data)."""
import numpy as np

from onnxscore.proxies.gradient.captured import Captured, f64, total
from onnxscore.proxies.gradient.registry import WEIGHTS_ONLY, register


@register("l2_norm", {WEIGHTS_ONLY}, "sum of per-tensor Frobenius norms of the Conv/Linear weights")
def l2_norm(c: Captured) -> float:
    return total(np.linalg.norm(f64(w).ravel()) for w in c.weights.values())
