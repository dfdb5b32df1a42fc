"""A proxy registered lower-is-better (ntk_cond) is ranked, evaluated and searched the right way up."""
from __future__ import annotations

import math

import pytest

from onnxscore.engine.results import _assign_ranks
from onnxscore.evaluation import directed_metrics, kendall, metrics
from onnxscore.searching import Evaluated


def test_rank_one_is_the_lowest_ntk_cond_and_the_highest_naswot():
    rows = [{"model": m, "ntk_cond": c, "naswot": c} for m, c in (("a", 30.0), ("b", 5.0), ("c", None), ("d", 5.0))]
    _assign_ranks(rows, ["ntk_cond", "naswot"])
    assert [r["ntk_cond_rank"] for r in rows] == [3, 1, None, 1]
    assert [r["naswot_rank"] for r in rows] == [1, 2, None, 2]


def test_evaluate_keeps_the_raw_sign_and_ranks_nulls_and_the_top_by_direction():
    acc = [90.0, 80.0, 70.0, 60.0, 50.0, 40.0, 30.0, 20.0, 10.0, 5.0]
    cond = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]  # perfectly anti-correlated: lower is better
    got = directed_metrics("ntk_cond", cond, acc)
    assert got["kendall"] == pytest.approx(-1.0) == pytest.approx(kendall(cond, acc))
    assert got["top10_precision"] == 1.0  # the lowest condition number is the most accurate net
    assert metrics(cond, acc)["top10_precision"] == 0.0  # read the wrong way up it would be 0
    # a null is the worst ntk_cond (last), not the best: the worst net's score missing changes nothing
    assert directed_metrics("ntk_cond", cond[:-1] + [None], acc)["kendall"] == pytest.approx(-1.0)
    assert directed_metrics("params", cond, acc) == metrics(cond, acc)  # not a proxy: as given


def test_search_fitness_follows_the_guiding_proxy():
    low = [Evaluated("x", 3.0, higher_is_better=False), Evaluated("y", 1.0, higher_is_better=False),
           Evaluated("z", None, higher_is_better=False)]
    assert max(low, key=lambda e: e.fitness).encoding == "y" and low[2].fitness == -math.inf
    assert max([Evaluated("x", 3.0), Evaluated("y", 1.0)], key=lambda e: e.fitness).encoding == "x"
