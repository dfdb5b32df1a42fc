"""zico: sum over weights of log(sum_i mean_b|g_bi| / std_b(g_bi)) over the two halves of the batch,
elements with zero std and tensors with a zero sum left out."""
import math

import numpy as np

from onnxscore.proxies.gradient.captured import Captured, f64
from onnxscore.proxies.gradient.registry import HALF_BATCH_GRADS, register


@register("zico", {HALF_BATCH_GRADS}, "ZiCo: log of gradient mean/std over two half batches")
def zico(c: Captured) -> float:
    first, second = c.halves
    score = 0.0
    for k, g1 in first.items():
        g1, g2 = f64(g1).ravel(), f64(second[k]).ravel()
        std = np.abs(g1 - g2) / 2
        mean = (np.abs(g1) + np.abs(g2)) / 2
        nz = std != 0
        t = float(np.sum(mean[nz] / std[nz]))
        if t != 0:
            score += math.log(t)
    return score
