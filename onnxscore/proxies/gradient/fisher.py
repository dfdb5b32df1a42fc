"""fisher (channel mode): per call site, sum_k |1/2 mean_n (sum_spatial A * dL/dA)_nk^2| * fan_in."""
import numpy as np

from onnxscore.proxies.gradient.captured import Captured, f64, total
from onnxscore.proxies.gradient.registry import LAYER_ACTS_AND_GRADS, register


@register("fisher", {LAYER_ACTS_AND_GRADS}, "per-channel Fisher information of layer outputs, times fan-in")
def fisher(c: Captured) -> float:
    return total(np.abs(0.5 * (f64(g) ** 2).mean(axis=0)).sum() * fan_in for g, fan_in in c.fisher)
