"""NASWOT (Mellor et al., ICML 2021): log|det K|, K = N_A - Hamming distance of the codes."""
from __future__ import annotations

import numpy as np
from scipy.linalg import blas
from threadpoolctl import threadpool_limits

from onnxscore.errors import ProxyError
from onnxscore.proxies.codes import ProxyContext, SiteCodes
from onnxscore.proxies.registry import register


CHUNK = 4096  # units per ssyrk call: the float32 copy stays in cache (15% faster than one big call);
# any chunk below 2**24 keeps the float32 sums of 0/1 exact


def kernel(sites: list[SiteCodes], batch: int) -> np.ndarray:
    """K[i, j] = number of units on which samples i and j agree, over all sites (float64)."""
    with threadpool_limits(1, user_api="blas"):
        return _kernel(sites, batch)


def _kernel(sites: list[SiteCodes], batch: int) -> np.ndarray:
    # One BLAS thread: onnxruntime's intra-op threads are still spinning right after a run, and
    # multi-threaded OpenBLAS fighting them took 7.7 s instead of 0.23 s for the same kernel
    # (bench/results/overhead_*.md); the kernel is a few GFLOP, one core does it in well under 1 s.
    upper = np.zeros((batch, batch), dtype=np.float64)
    n_units = 0
    for site in sites:
        codes = site.unpacked(slice(0, batch))
        for start in range(0, site.units, CHUNK):
            c = codes[:, start : start + CHUNK].astype(np.float32)
            # C C^T as a symmetric rank-k update (upper triangle): half the work of a matmul;
            # c.T is Fortran-ordered, so BLAS reads it without a copy
            upper += blas.ssyrk(1.0, c.T, trans=1)
        n_units += site.units
    gram = np.triu(upper) + np.triu(upper, 1).T
    ones = np.diag(gram).copy()  # G[i, i] = sum of c_i^2 = number of active units of sample i
    # agree = both 1 + both 0 = G + (N - a_i - a_j + G)
    return n_units - ones[:, None] - ones[None, :] + 2.0 * gram


@register(
    "naswot",
    "log-determinant of the Hamming kernel of binary activation codes (NASWOT, ICML 2021)",
)
def naswot(sites: list[SiteCodes], ctx: ProxyContext) -> float:
    sign, logdet = np.linalg.slogdet(kernel(sites, ctx.batch_size))
    if sign == 0 or not np.isfinite(logdet):
        raise ProxyError(
            "NASWOT kernel is singular (two inputs have identical activation codes); "
            "the score is -inf (use distinct inputs or a larger network)"
        )
    return float(logdet)
