"""ntk_trace (HNAS): sqrt(trace(G G^T) / N), g_n the autograd_hacks per-sample gradients of the
true-class logit sum over Conv/Linear weights and biases."""
import math

import numpy as np

from onnxscore.proxies.gradient.captured import Captured
from onnxscore.proxies.gradient.registry import PER_SAMPLE_TRUE_LOGIT_GRADS, register


@register("ntk_trace", {PER_SAMPLE_TRUE_LOGIT_GRADS}, "square root of the mean NTK diagonal (HNAS)")
def ntk_trace(c: Captured) -> float:
    return math.sqrt(float(np.mean(np.asarray(c.ntk_trace_sq, dtype=np.float64))))
