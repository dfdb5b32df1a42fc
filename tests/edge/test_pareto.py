"""Pareto front and budgets on hand-checked cases."""
from __future__ import annotations

import pytest

from onnxscore.edge.pareto import Budget, pareto_front, parse_count
from onnxscore.errors import InputError


def test_front_hand_checked():
    pts = {
        "F": (0.5, 0.5), "A": (1.0, 1.0), "B": (2.0, 2.0),
        "C": (1.5, 3.0),  # dominated by B (higher score, lower cost)
        "D": (3.0, 3.0),
        "E": (3.0, 4.0),  # dominated by D (same score, lower cost)
        "G": (0.4, 2.0),  # dominated by A
    }
    items = [{"name": k, "score": s, "cost": c} for k, (s, c) in pts.items()]
    items.append({"name": "missing", "score": None, "cost": 0.1})  # no score: ignored
    front = pareto_front(items)
    assert [i["name"] for i in front] == ["F", "A", "B", "D"]


def test_front_keeps_exact_ties_and_custom_keys():
    items = [("a", 2.0, 1.0), ("b", 2.0, 1.0), ("c", 1.0, 1.0)]
    front = pareto_front(items, score=lambda t: t[1], cost=lambda t: t[2])
    assert [t[0] for t in front] == ["a", "b"]


def test_budget_violations():
    b = Budget(max_params=1000, max_macs=parse_count("2M"))
    assert b.active
    assert b.violation(params=999, macs=2_000_000) is None
    assert "params" in b.violation(params=1001, macs=10)
    assert "macs" in b.violation(params=10, macs=2_000_001)
    assert "unknown" in b.violation(params=None, macs=10)
    assert Budget().violation(params=None) is None and not Budget().active
    assert "latency_ms" in Budget(max_latency_ms=1.5).violation(latency_ms=2.0)


def test_parse_count():
    assert parse_count("15.65M") == pytest.approx(15.65e6)
    assert parse_count("2k") == 2000 and parse_count("1e3") == 1000 and parse_count(None) is None
    with pytest.raises(InputError):
        parse_count("ten")
