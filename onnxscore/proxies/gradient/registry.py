"""The gradient proxies by name: direction, the captured arrays each needs, and its value function."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from onnxscore.errors import ProxyError

# What a proxy reads from one plan run (see capture.Captured for the arrays behind each need).
LOSS_GRAD_WEIGHTS = "loss_grad_weights"  # dL/dW, W in the weight set, full batch, train-mode BN
HVP = "hvp"  # H g for GraSP, same graph as the loss gradient
INPUT_GRAD_OF_LOGIT_SUM = "input_grad_of_logit_sum"  # jacov
LAYER_ACTS_AND_GRADS = "layer_acts_and_grads"  # fisher: sum_spatial A * dL/dA per call site
PER_SAMPLE_TRUE_LOGIT_GRADS = "per_sample_true_logit_grads"  # ntk_trace: ||g_n||^2 per sample
PER_SAMPLE_SUM_LOGITS_GRADS = "per_sample_sum_logits_grads"  # ntk_cond: J, N x P
HALF_BATCH_GRADS = "half_batch_grads"  # zico
WEIGHTS_ONLY = "weights_only"  # l2_norm
SYNFLOW_GRAPH = "synflow_graph"  # float64, BN removed, |params|, all-ones input

NEEDS_LABELS = frozenset({LOSS_GRAD_WEIGHTS, HVP, LAYER_ACTS_AND_GRADS, PER_SAMPLE_TRUE_LOGIT_GRADS,
                          HALF_BATCH_GRADS})


@dataclass(frozen=True)
class GradientProxy:
    """A registered gradient proxy: `fn(captured) -> float` reads only the arrays of `needs`."""

    name: str
    fn: Callable
    needs: frozenset[str]
    description: str
    higher_is_better: bool = True


_REGISTRY: dict[str, GradientProxy] = {}


def register(name: str, needs: set[str], description: str, higher_is_better: bool = True):
    """Decorator registering `fn(captured) -> float` as the gradient proxy `name`."""
    def deco(fn: Callable) -> Callable:
        _REGISTRY[name] = GradientProxy(name, fn, frozenset(needs), description, higher_is_better)
        return fn
    return deco


def _load() -> None:
    from onnxscore.proxies.gradient import (  # noqa: F401  (each module registers itself)
        fisher, grad_norm, grasp, jacov, l2_norm, ntk_cond, ntk_trace, plain, snip, synflow, zico)


def names() -> list[str]:
    _load()
    return list(_REGISTRY)


def get(name: str) -> GradientProxy:
    _load()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ProxyError(f"unknown gradient proxy '{name}'; choose from {', '.join(_REGISTRY)}") from None
