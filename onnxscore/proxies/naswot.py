"""NASWOT (Mellor et al., ICML 2021): log|det K|, K = N_A - Hamming distance of the codes."""
from __future__ import annotations

import math

import numpy as np

from onnxscore.errors import ProxyError
from onnxscore.proxies import exact
from onnxscore.proxies.codes import ProxyContext, SiteCodes
from onnxscore.proxies.kernels import gram
from onnxscore.proxies.registry import register


def integer_kernel(sites: list[SiteCodes], batch: int, threads: int = 0) -> tuple[np.ndarray, int]:
    """(K as exact int64, N_A): K[i, j] = number of units on which samples i and j agree, over all sites."""
    g = np.zeros((batch, batch), dtype=np.int64)
    n_units = 0
    for site in sites:
        if site.units == 0:
            continue
        g += gram(site.unpacked(slice(0, batch)), threads)  # a view of onnxruntime's booleans when dense
        n_units += site.units
    ones = np.diag(g).copy()  # G[i, i] = sum of c_i^2 = number of active units of sample i
    # agree = both 1 + both 0 = G + (N - a_i - a_j + G)
    return n_units - ones[:, None] - ones[None, :] + 2 * g, n_units


def kernel(sites: list[SiteCodes], batch: int, threads: int = 0) -> np.ndarray:
    """K as float64 (what slogdet reads); exact, since its entries are integers <= N_A."""
    return integer_kernel(sites, batch, threads)[0].astype(np.float64)


def singular_reason(k: np.ndarray, n_units: int) -> str | None:
    """Why the integer kernel K is singular, decided exactly, or None when det K != 0.

    K = D D^T with D = [C, 1 - C] (B x 2N_A), so rank K <= rank [C, 1] <= N_A + 1, and K is
    positive semidefinite, so |det K| <= prod K[i, i] = N_A^B (Hadamard) bounds the exact test."""
    b = k.shape[0]
    if n_units + 1 < b:
        return (f"NASWOT kernel is singular: the network has {n_units} units for {b} samples "
                f"(rank K <= units + 1 < {b}), so the score is undefined; NASWOT needs at least B - 1 "
                f"units (this network: --batch-size {n_units + 1} or less)")
    twins = np.argwhere(np.triu(k == n_units, 1))  # K[i, j] = N_A: no unit tells i and j apart
    if len(twins):
        i, j = (int(v) for v in twins[0])
        return (f"NASWOT kernel is singular: samples {i} and {j} have identical activation codes; "
                "the score is -inf (use distinct inputs or a larger network)")
    if exact.is_singular(k, b * math.log2(n_units)):
        return (f"NASWOT kernel is singular (rank-deficient, decided exactly: the codes of the {b} samples "
                "are linearly dependent); the score is undefined (use more varied inputs or a larger network)")
    return None


@register(
    "naswot",
    "log-determinant of the Hamming kernel of binary activation codes (NASWOT, ICML 2021)",
)
def naswot(sites: list[SiteCodes], ctx: ProxyContext) -> float:
    k, n_units = integer_kernel(sites, ctx.batch_size, ctx.threads)
    reason = singular_reason(k, n_units)
    if reason is not None:
        raise ProxyError(reason)
    sign, logdet = np.linalg.slogdet(k.astype(np.float64))
    if sign == 0 or not np.isfinite(logdet):  # nonsingular, but beyond float64: the exact value
        return exact.log_abs_det(k, ctx.batch_size * math.log2(n_units))
    return float(logdet)
