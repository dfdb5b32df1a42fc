"""Ensemble rules against hand and scipy computations: ties, nulls ranking last, direction, lexicographic
members, all-null rows, and invariance to the order of the set."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from onnxscore.proxies.ensemble import rules

UP = lambda name: name != "down"  # noqa: E731  (member "down" is lower-is-better)


def test_log_rank_sum_is_azs_formula():
    a, b = [3.0, 1.0, 2.0, 5.0], [0.1, 0.4, 0.3, 0.2]
    got = rules.log_rank_sum(["a", "b"], {"a": a, "b": b}, UP, 4)
    want = np.log(stats.rankdata(a) / 4) + np.log(stats.rankdata(b) / 4)
    np.testing.assert_allclose(got, want)


def test_ties_share_the_average_rank():
    r = rules.average_ranks([1.0, 2.0, 2.0, 3.0])
    np.testing.assert_array_equal(r, [1, 2.5, 2.5, 4])


def test_nulls_rank_below_every_score_and_tie_like_minus_inf():
    vals = [0.5, None, 2.0, float("nan"), -7.0]
    r = rules.average_ranks(vals)
    np.testing.assert_array_equal(r, stats.rankdata([0.5, -np.inf, 2.0, -np.inf, -7.0]))
    assert r[1] == r[3] == 1.5 and r[4] == 3


def test_lower_is_better_members_are_turned():
    got = rules.log_rank_sum(["down"], {"down": [1.0, 3.0, 2.0]}, UP, 3)
    assert np.argmax(got) == 0 and np.argmin(got) == 1


def test_lexicographic_member_is_a_dense_rank_of_tuples():
    dim, ent = [21, 66, 21, 66, 66], [0.9, 0.1, 0.5, 0.1, 0.3]
    r = rules.dense_lex_ranks([dim, ent], [True, True])
    np.testing.assert_array_equal(r, [2, 3, 1, 3, 4])  # (21,.5)<(21,.9)<(66,.1)=(66,.1)<(66,.3)
    got = rules.log_rank_sum([("dim", "ent")], {"dim": dim, "ent": ent}, UP, 5)
    np.testing.assert_allclose(got, np.log(r / 5))


def test_a_row_no_member_scored_is_null_and_one_partly_scored_is_not():
    table = {"a": [1.0, None, 3.0], "b": [None, None, 1.0]}
    for fn in (rules.log_rank_sum, rules.mean_rank, rules.zsum):
        got = fn(["a", "b"], table, UP, 3)
        assert got[1] is None and got[0] is not None and got[2] is not None
        assert got[2] > got[0]


@pytest.mark.parametrize("name", rules.names())
def test_stable_under_the_order_of_the_set(name):
    rng = np.random.default_rng(0)
    n = 40
    table = {"a": list(rng.integers(0, 5, n).astype(float)), "b": list(rng.standard_normal(n)),
             "down": [None if i % 7 == 0 else float(v) for i, v in enumerate(rng.standard_normal(n))]}
    members = ["a", ("a", "b"), "down"]
    fn = rules.get(name)
    base = fn(members, table, UP, n)
    perm = rng.permutation(n)
    shuffled = {k: [v[i] for i in perm] for k, v in table.items()}
    again = fn(members, shuffled, UP, n)
    for j, i in enumerate(perm):
        assert math.isclose(again[j], base[i], rel_tol=1e-12, abs_tol=1e-12)


def test_mean_rank_and_zsum_hand_computed():
    table = {"a": [1.0, 2.0, 3.0], "b": [3.0, 1.0, 2.0]}
    np.testing.assert_allclose(rules.mean_rank(["a", "b"], table, UP, 3), [(1 + 3) / 6, (2 + 1) / 6, (3 + 2) / 6])
    za = (np.array([1, 2, 3.0]) - 2) / np.std([1, 2, 3.0])
    zb = (np.array([3, 1, 2.0]) - 2) / np.std([3, 1, 2.0])
    np.testing.assert_allclose(rules.zsum(["a", "b"], table, UP, 3), za + zb)
    z = rules.zsum(["a"], {"a": [1.0, None, 3.0]}, UP, 3)
    assert z[1] is None  # the only member is unscored
    z = rules.zsum(["a", "b"], {"a": [1.0, None, 3.0], "b": [1.0, 2.0, 3.0]}, UP, 3)
    assert z[1] == pytest.approx(-1 - 1 + 0.0)  # a: lowest z (-1) minus 1; b: z = 0


def test_unknown_rule_is_a_clear_error():
    from onnxscore.errors import ProxyError
    with pytest.raises(ProxyError, match="unknown ensemble rule 'nope'; choose from log_rank_sum"):
        rules.get("nope")
