"""Edge budgets (params / MACs / latency caps) and the Pareto front of score (higher better) against a cost (lower better)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from onnxscore.errors import InputError

_SUFFIX = {"": 1, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12}


def parse_count(text: str | int | float | None) -> float | None:
    """'15.6M' -> 15.6e6, '2k' -> 2000, '1e9' -> 1e9; None stays None."""
    if text is None or isinstance(text, (int, float)):
        return text
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([kKmMgGtT]?)\s*", str(text))
    if not m:
        raise InputError(f"cannot read the number {text!r}; write e.g. 500000, 1.5M, 20k or 2G")
    return float(m.group(1)) * _SUFFIX[m.group(2).lower()]


def human(n: float | int | None, unit: str = "") -> str:
    """Short human form of a count: 15647370 -> '15.65M'."""
    if n is None:
        return "-"
    for div, suf in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= div:
            return f"{n / div:.2f}{suf}{unit}"
    return f"{n:g}{unit}"


@dataclass(frozen=True)
class Budget:
    """Upper limits a candidate must meet before it is scored; None = no limit."""

    max_params: float | None = None
    max_macs: float | None = None
    max_latency_ms: float | None = None

    @property
    def active(self) -> bool:
        """True when at least one limit is set."""
        return any(v is not None for v in (self.max_params, self.max_macs, self.max_latency_ms))

    def violation(self, params=None, macs=None, latency_ms=None) -> str | None:
        """Why a candidate is over budget (or its metric is unknown), or None when within budget."""
        checks = (
            ("params", params, self.max_params, human),
            ("macs", macs, self.max_macs, human),
            ("latency_ms", latency_ms, self.max_latency_ms, lambda v: f"{v:.3g}"),
        )
        for name, value, limit, fmt in checks:
            if limit is None:
                continue
            if value is None:
                return f"{name} unknown, cannot check budget {fmt(limit)}"
            if value > limit:
                return f"{name} {fmt(value)} > budget {fmt(limit)}"
        return None


def _get(item: Any, key: str | Callable) -> Any:
    if callable(key):
        return key(item)
    if isinstance(item, Mapping):
        return item.get(key)
    return getattr(item, key, None)


def pareto_front(items: Iterable[Any], score: str | Callable = "score", cost: str | Callable = "cost") -> list:
    """Items not dominated in (higher score, lower cost), sorted by ascending cost; items missing either are ignored.

    An item is dominated when another has score >= and cost <= with at least one strict; exact ties all stay.
    """
    pts = []
    for it in items:
        s, c = _get(it, score), _get(it, cost)
        if s is None or c is None:
            continue
        s, c = float(s), float(c)
        if s != s or c != c:  # NaN
            continue
        pts.append((c, -s, it))
    pts.sort(key=lambda t: (t[0], t[1]))
    front, best = [], None
    i = 0
    while i < len(pts):
        # group exactly equal (cost, score) points: they stand or fall together
        j = i
        while j < len(pts) and pts[j][0] == pts[i][0] and pts[j][1] == pts[i][1]:
            j += 1
        s = -pts[i][1]
        if best is None or s > best:
            front.extend(p[2] for p in pts[i:j])
            best = s
        i = j
    return front
