"""Regularised SWAP: SWAP * exp(-(P - mu)^2 / sigma), P = parameters in thousands."""
from __future__ import annotations

import math

from onnxscore.errors import ProxyError
from onnxscore.proxies.codes import ProxyContext, SiteCodes
from onnxscore.proxies.registry import register
from onnxscore.proxies.swap import count_patterns


@register(
    "reg-swap",
    "SWAP times exp(-(P - mu)^2 / sigma), P = params in thousands; needs --mu and --sigma-params",
    params=("mu", "sigma_params"),
)
def reg_swap(sites: list[SiteCodes], ctx: ProxyContext) -> float:
    if ctx.mu is None or ctx.sigma_params is None:
        raise ProxyError("reg-swap needs both --mu and --sigma-params (model size target in thousands of parameters)")
    if ctx.sigma_params <= 0:
        raise ProxyError("--sigma-params must be positive")
    p = ctx.params / 1000.0
    return count_patterns(sites, ctx.batch_size, ctx.threads) * math.exp(-((p - ctx.mu) ** 2) / ctx.sigma_params)
