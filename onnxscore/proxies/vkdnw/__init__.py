"""VKDNW (Tybl & Neumann, CVPR 2025; ondratybl/VKDNW) on onnxruntime.

Entropy of the 9 deciles of the eigenvalues of the Fisher matrix F = mean_n (L_n J_n)^T (L_n J_n),
J the per-sample Jacobian of the logits w.r.t. one scalar (flat index 0) of each of the first
`max_tensors` parameter tensors, BN in eval mode; `dim` is the number of parameter tensors.
It follows ondratybl/VKDNW NB201/ZeroShotProxy/compute_vkdnw_score.py and NB201/tss_utils.py (the
README's "AZ-NAS and VKDNW components" section lists the quirks kept)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx

from onnxscore.proxies.vkdnw import fisher as fi
from onnxscore.proxies.vkdnw.jacobian import jacobian
from onnxscore.proxies.vkdnw.params import find_params


@dataclass(frozen=True)
class VkResult:
    entropy: float | None
    dim: int
    deciles: tuple[float, ...] | None
    reason: str | None = None


def compute(model: onnx.ModelProto, x: np.ndarray, providers: list[str] | None = None,
            max_tensors: int = 128) -> VkResult:
    """VKDNW of `model` on batch `x` (the model is not modified)."""
    params = find_params(model)
    dim = len(params)
    if dim == 0:
        return VkResult(None, 0, None, "VKDNW: the model has no parameter tensors")
    try:
        logits, jac = jacobian(model, params[:max_tensors], x, providers)
    except Exception as e:  # an op without a rule, or onnxruntime refusing the graph
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        return VkResult(None, dim, None, f"{type(e).__name__}: {msg}"[:300])
    q = fi.deciles(fi.spectrum(fi.fisher(logits, jac)))
    return VkResult(fi.entropy(q), dim, tuple(float(v) for v in q), None)


__all__ = ["VkResult", "compute"]
