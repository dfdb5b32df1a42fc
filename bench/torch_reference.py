"""Independent PyTorch reference of NASWOT, SWAP and ePADS (PROXIES.md), written the way the papers' code is.

model.train() (BatchNorm uses batch statistics), a forward hook on every nn.ReLU module, one site per
ReLU *call* in execution order, proxies computed in torch. Used by tests and benchmarks to check onnxscore.
Conventions shared with onnxscore: noise = default_rng([seed, 1]).standard_normal(shape).astype(float32) * sigma;
ePADS permutations: rng = default_rng([perm_seed, 2]) and p_l = rng.permutation(B) for each site l in order.
"""

from __future__ import annotations

import math
from typing import Callable, List, Union

import numpy as np
import torch
from torch import nn

ArrayLike = Union[np.ndarray, torch.Tensor]


def _tensor(x: ArrayLike) -> torch.Tensor:
    return x if isinstance(x, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))


def _run_sites(model: nn.Module, x: ArrayLike, on_site: Callable[[torch.Tensor], None], only_4d: bool = False) -> int:
    """One train-mode forward; call on_site(code) with code = (relu_out > 0) as (B, N_l) bool per ReLU call."""
    count = [0]

    def hook(_mod, _inp, out):
        if only_4d and out.dim() != 4:  # ReLU keeps the rank, so out.dim() == input dim
            return
        count[0] += 1
        on_site((out.detach() > 0).reshape(out.shape[0], -1))

    was_training = model.training
    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.ReLU)]
    model.train()
    try:
        with torch.no_grad():
            model(_tensor(x))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return count[0]


def codes(model: nn.Module, x: ArrayLike, only_4d: bool = False) -> List[torch.Tensor]:
    """Binary codes (B, N_l) of every ReLU call, in execution order."""
    out: List[torch.Tensor] = []
    _run_sites(model, x, out.append, only_4d)
    return out


def naswot(model: nn.Module, x: ArrayLike) -> float:
    """log|det K|, K = sum_l C_l C_l^T + (1-C_l)(1-C_l)^T (float64); singular K -> -inf."""
    b = _tensor(x).shape[0]
    k = torch.zeros(b, b, dtype=torch.float64)

    def add(code):
        c = code.to(torch.float64)
        k.add_(c @ c.T + (1.0 - c) @ (1.0 - c).T)

    _run_sites(model, x, add)
    sign, logabsdet = torch.linalg.slogdet(k)
    return -math.inf if float(sign) == 0.0 else float(logabsdet)


def swap(model: nn.Module, x: ArrayLike) -> int:
    """Number of distinct sample-wise patterns (columns) over all 4-D-input ReLU sites jointly."""
    cols: List[np.ndarray] = []

    def add(code):
        packed = np.packbits(code.T.contiguous().numpy(), axis=1)  # (N_l, ceil(B/8)) one row per unit
        cols.append(np.unique(packed, axis=0))

    _run_sites(model, x, add, only_4d=True)
    if not cols:
        return 0
    return int(np.unique(np.concatenate(cols), axis=0).shape[0])


def make_noise(shape, seed: int = 0, sigma: float = 1.0) -> np.ndarray:
    """The shared noise convention: default_rng([seed, 1]).standard_normal(shape).astype(float32) * sigma."""
    return np.random.default_rng([seed, 1]).standard_normal(shape).astype(np.float32) * np.float32(sigma)


def epads_terms(model: nn.Module, x: ArrayLike, noise: ArrayLike, perm_seed: int = 0) -> List[tuple]:
    """Per-site (D1_l, D2_l) as Python ints, from one forward of cat([x, x + noise])."""
    xt, nt = _tensor(x), _tensor(noise)
    b = xt.shape[0]
    rng = np.random.default_rng([perm_seed, 2])
    terms: List[tuple] = []

    def add(code):
        clean, pert = code[:b], code[b:]
        p = torch.from_numpy(rng.permutation(b))
        d1 = int((clean != clean[p]).sum(dtype=torch.int64))
        d2 = int((clean != pert).sum(dtype=torch.int64))
        terms.append((d1, d2))

    _run_sites(model, torch.cat([xt, xt + nt]), add)
    return terms


def epads(model: nn.Module, x: ArrayLike, noise: ArrayLike, perm_seed: int = 0) -> float:
    """ePADS = ln(sum_l D1_l * D2_l) with exact integer accumulation; 0 -> -inf."""
    total = sum(d1 * d2 for d1, d2 in epads_terms(model, x, noise, perm_seed))
    return math.log(total) if total > 0 else -math.inf


__all__ = ["codes", "naswot", "swap", "epads", "epads_terms", "make_noise"]
