"""The arrays one gradient plan captures, by need; each proxy's function reads only its needs."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Captured:
    weights: dict[str, np.ndarray] = field(default_factory=dict)  # the weight set's values
    grads: dict[str, np.ndarray] = field(default_factory=dict)  # dL/dW (loss_grad_weights)
    hvp: dict[str, np.ndarray] = field(default_factory=dict)  # H g (hvp)
    input_grad: np.ndarray | None = None  # d(sum logits)/dX (input_grad_of_logit_sum)
    fisher: list[tuple[np.ndarray, int]] = field(default_factory=list)  # ([N, C] g_nk, fan_in) per site
    ntk_trace_sq: np.ndarray | None = None  # [N] ||g_n||^2 (per_sample_true_logit_grads)
    jacobian: np.ndarray | None = None  # [N, P] J_i (per_sample_sum_logits_grads)
    halves: tuple[dict[str, np.ndarray], dict[str, np.ndarray]] | None = None  # (half_batch_grads)
    synflow_weights: dict[str, np.ndarray] = field(default_factory=dict)  # |W| in float64
    synflow_grads: dict[str, np.ndarray] = field(default_factory=dict)  # dR/dW (synflow_graph)


def total(values) -> float:
    """A float64 sum of per-tensor float64 quantities."""
    return float(np.sum([float(v) for v in values], dtype=np.float64))


def f64(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)
