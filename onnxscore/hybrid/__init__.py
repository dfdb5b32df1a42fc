"""Hybrid search: spend a few oracle queries ("trainings") well, guided by a training-free proxy.

Each algorithm is one module registered by name with @register_algorithm; all are registered at import.
`run.hybrid_search` is the front door (searching.search calls it when an oracle is given).
"""
from __future__ import annotations

from typing import Callable

_ALGORITHMS: dict[str, tuple[Callable, str]] = {}
_NEEDS: dict[str, tuple[str, ...]] = {}
# importable module -> (distribution, extra) of what an algorithm needs beyond the core
_MODULES = {"sklearn": ("scikit-learn", "hybrid"), "bayes_opt": ("bayesian-optimization", "hybrid")}


def register_algorithm(name: str, summary: str, needs: tuple[str, ...] = ()) -> Callable:
    """Register `fn(ctx: HybridContext) -> None` as the hybrid algorithm `name` (one line of `summary`);
    `needs` names the optional modules it imports, checked before a search spends anything."""

    def deco(fn: Callable) -> Callable:
        _ALGORITHMS[name] = (fn, summary)
        _NEEDS[name] = tuple(needs)
        return fn

    return deco


def check_available(name: str) -> None:
    """Raise MissingExtraError before any query when an optional module `name` needs is not installed."""
    import importlib.util

    from onnxscore.errors import MissingExtraError

    for module in _NEEDS.get(name, ()):
        if importlib.util.find_spec(module) is None:
            raise MissingExtraError(*_MODULES[module])


def algorithms() -> dict[str, str]:
    """name -> one-line summary of every hybrid algorithm (the oracle baselines included)."""
    return {k: v[1] for k, v in _ALGORITHMS.items()}


def get_algorithm(name: str) -> Callable:
    from onnxscore.errors import InputError

    try:
        return _ALGORITHMS[name][0]
    except KeyError:
        raise InputError(f"unknown hybrid --algo {name!r}; use one of {', '.join(_ALGORITHMS)}") from None


from onnxscore.hybrid import baselines, hnas, prenas, shortlist  # noqa: E402,F401  (registers them)
