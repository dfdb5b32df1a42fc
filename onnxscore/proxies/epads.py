"""ePADS (Huang et al., ASOC 2025): ln sum_l D1_l * D2_l over clean + perturbed codes."""
from __future__ import annotations

import math

import numpy as np

from onnxscore.errors import ProxyError
from onnxscore.proxies.codes import ProxyContext, SiteCodes, hamming_rows
from onnxscore.proxies.registry import register


def permutations(seed: int, batch: int, n_sites: int) -> list[np.ndarray]:
    """One fresh permutation of the batch per site, in site order, from default_rng([seed, 2])."""
    rng = np.random.default_rng([seed, 2])
    return [rng.permutation(batch) for _ in range(n_sites)]


@register(
    "epads",
    "perturbation-aware distinguishing score: per-layer sample distinctness x flips under "
    "input noise (ePADS, ASOC 2025)",
    paired=True,
)
def epads(sites: list[SiteCodes], ctx: ProxyContext) -> float:
    """Rows 0..B-1 are the clean batch, rows B..2B-1 its perturbed copy (one forward)."""
    b = ctx.batch_size
    total = 0  # Python int: exact however large the sum gets
    for site, perm in zip(sites, permutations(ctx.seed, b, len(sites))):
        clean, noisy = site.bits[:b], site.bits[b : 2 * b]
        d1 = hamming_rows(clean, clean[perm])  # each sample against one random partner
        d2 = hamming_rows(clean, noisy)  # units that flip under the noise
        total += d1 * d2
    if total == 0:
        raise ProxyError(
            "ePADS is -inf: no site distinguishes samples or flips under the noise "
            "(a dead or constant network); raise --sigma or check the model"
        )
    return math.log(total)
