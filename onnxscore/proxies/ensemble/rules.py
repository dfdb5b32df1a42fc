"""Combination rules of an ensemble: each turns its members' scores over a set of models into one value
per model. Rank-based rules are relative to the set: the same model gets another value in another set.

A member is a proxy name, or a tuple of names ranked lexicographically (VKDNW's (dim, entropy) key).
Every member is oriented by its registered direction first, so "better" is always "higher" here.
A model a member could not score (None) is worse than every scored one: its rank is the mean of the
lowest ranks, where the authors' -inf lands with scipy's rankdata."""
from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np

Values = Sequence[float | None]
_RULES: dict[str, tuple[Callable, str]] = {}


def rule(name: str, description: str):
    def deco(fn):
        _RULES[name] = (fn, description)
        return fn
    return deco


def get(name: str) -> Callable:
    from onnxscore.errors import ProxyError
    try:
        return _RULES[name][0]
    except KeyError:
        raise ProxyError(f"unknown ensemble rule '{name}'; choose from {', '.join(_RULES)}") from None


def names() -> list[str]:
    return list(_RULES)


def describe(name: str) -> str:
    return _RULES[name][1]


def _oriented(values: Values, higher_is_better: bool) -> np.ndarray:
    """Finite values signed so that higher is better; -inf for a missing or non-finite one."""
    out = np.full(len(values), -np.inf)
    for i, v in enumerate(values):
        if v is not None and math.isfinite(float(v)):
            out[i] = float(v) if higher_is_better else -float(v)
    return out


def average_ranks(values: Values, higher_is_better: bool = True) -> np.ndarray:
    """1 = worst, N = best; ties (and the unscored, together) share their mean rank (rankdata 'average')."""
    from scipy import stats  # imported when an ensemble is combined, not by every worker at start

    return stats.rankdata(_oriented(values, higher_is_better), method="average")


def dense_lex_ranks(columns: Sequence[Values], directions: Sequence[bool]) -> np.ndarray:
    """Dense ranks of the tuples (column 0 first), 1 = worst: pandas' rank(method='dense') of tuples."""
    keys = list(zip(*(_oriented(c, d) for c, d in zip(columns, directions))))
    order = {k: i + 1 for i, k in enumerate(sorted(set(keys)))}
    return np.array([order[k] for k in keys], dtype=float)


def member_ranks(member, table: dict[str, Values], direction: Callable[[str], bool]) -> np.ndarray:
    if isinstance(member, tuple):
        return dense_lex_ranks([table[m] for m in member], [direction(m) for m in member])
    return average_ranks(table[member], direction(member))


def _scored(members, table, n) -> np.ndarray:
    """Rows where at least one member has a finite value (the others get None)."""
    flat = [m for mem in members for m in (mem if isinstance(mem, tuple) else (mem,))]
    ok = np.zeros(n, dtype=bool)
    for m in flat:
        ok |= np.array([v is not None and math.isfinite(float(v)) for v in table[m]], dtype=bool)
    return ok


def _finish(values: np.ndarray, ok: np.ndarray) -> list[float | None]:
    return [float(v) if k else None for v, k in zip(values, ok)]


@rule("log_rank_sum", "sum over members of log(rank / N), ranks ascending in goodness (AZ-NAS, VKDNW)")
def log_rank_sum(members, table, direction, n) -> list[float | None]:
    total = np.zeros(n)
    for m in members:
        total += np.log(member_ranks(m, table, direction) / n)
    return _finish(total, _scored(members, table, n))


@rule("mean_rank", "mean over members of rank / N")
def mean_rank(members, table, direction, n) -> list[float | None]:
    total = np.zeros(n)
    for m in members:
        total += member_ranks(m, table, direction) / n
    return _finish(total / len(members), _scored(members, table, n))


@rule("zsum", "sum over members of the z-score of the (oriented) value; an unscored model gets the "
              "member's lowest z minus 1")
def zsum(members, table, direction, n) -> list[float | None]:
    total = np.zeros(n)
    for m in members:
        if isinstance(m, tuple):
            z = member_ranks(m, table, direction)  # a lexicographic key has no scale: its dense rank
        else:
            z = _oriented(table[m], direction(m))
        fin = np.isfinite(z)
        if fin.sum() >= 2 and np.std(z[fin]) > 0:
            z = np.where(fin, (z - z[fin].mean()) / z[fin].std(), 0.0)
            z[~fin] = z[fin].min() - 1.0
        else:
            z = np.where(fin, 0.0, -1.0)
        total += z
    return _finish(total, _scored(members, table, n))
