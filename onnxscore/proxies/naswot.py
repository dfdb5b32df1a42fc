"""NASWOT (Mellor et al., ICML 2021): log|det K|, K = N_A - Hamming distance of the codes."""
from __future__ import annotations

import numpy as np

from onnxscore.errors import ProxyError
from onnxscore.proxies.codes import ProxyContext, SiteCodes
from onnxscore.proxies.kernels import gram
from onnxscore.proxies.registry import register


def kernel(sites: list[SiteCodes], batch: int, threads: int = 0) -> np.ndarray:
    """K[i, j] = number of units on which samples i and j agree, over all sites (float64)."""
    g = np.zeros((batch, batch), dtype=np.int64)
    n_units = 0
    for site in sites:
        if site.units == 0:
            continue
        g += gram(site.unpacked(slice(0, batch)), threads)  # a view of onnxruntime's booleans when dense
        n_units += site.units
    ones = np.diag(g).copy()  # G[i, i] = sum of c_i^2 = number of active units of sample i
    # agree = both 1 + both 0 = G + (N - a_i - a_j + G); exact integers, then float64 for slogdet
    return (n_units - ones[:, None] - ones[None, :] + 2 * g).astype(np.float64)


@register(
    "naswot",
    "log-determinant of the Hamming kernel of binary activation codes (NASWOT, ICML 2021)",
)
def naswot(sites: list[SiteCodes], ctx: ProxyContext) -> float:
    sign, logdet = np.linalg.slogdet(kernel(sites, ctx.batch_size, ctx.threads))
    if sign == 0 or not np.isfinite(logdet):
        raise ProxyError(
            "NASWOT kernel is singular (two inputs have identical activation codes); "
            "the score is -inf (use distinct inputs or a larger network)"
        )
    return float(logdet)
