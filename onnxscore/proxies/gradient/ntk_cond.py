"""ntk_cond (TE-NAS): lambda_max / lambda_min of K = J J^T (float64), J_i = d(sum_c f_ic)/d theta over
Conv/Linear weights and BN scales; a NaN ratio is 1e5 (as TE-NAS). Lower is better."""
import math

import numpy as np

from onnxscore.proxies.gradient.captured import Captured
from onnxscore.proxies.gradient.registry import PER_SAMPLE_SUM_LOGITS_GRADS, register

CHUNK = 1 << 16  # columns of J converted to float64 at a time


def gram(j: np.ndarray) -> np.ndarray:
    """J J^T accumulated in float64 without a float64 copy of all of J."""
    k = np.zeros((j.shape[0], j.shape[0]))
    for start in range(0, j.shape[1], CHUNK):
        block = j[:, start:start + CHUNK].astype(np.float64)
        k += block @ block.T
    return k


@register("ntk_cond", {PER_SAMPLE_SUM_LOGITS_GRADS}, "NTK condition number (TE-NAS, train-mode BN)",
          higher_is_better=False)
def ntk_cond(c: Captured) -> float:
    k = gram(c.jacobian)
    if not np.isfinite(k).all():
        return float("nan")
    eig = np.linalg.eigvalsh(k)
    with np.errstate(all="ignore"):
        cond = float(eig[-1] / eig[0])
    return 1e5 if math.isnan(cond) else cond
