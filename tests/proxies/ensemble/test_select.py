"""Greedy forward selection of an ensemble's members, against log-rank sums and Kendall computed here."""
import numpy as np
import pytest
from scipy.stats import kendalltau, rankdata

from onnxscore.errors import InputError
from onnxscore.proxies.ensemble.select import ensemble_values, greedy_select


def _log_rank_sum(*cols):
    n = len(cols[0])
    return sum(np.log(rankdata(c) / n) for c in cols)


@pytest.fixture
def two_signals():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=200), rng.normal(size=200)
    acc = a + 1.2 * b
    table = {"pa": list(a), "pb": list(b), "noise": list(rng.normal(size=200))}
    return table, list(acc), a, b


def test_picks_both_signals_and_leaves_noise_out(two_signals):
    table, acc, a, b = two_signals
    sel = greedy_select(table, acc)
    assert sel.members == ["pb", "pa"]  # b carries more of the accuracy, so it is the best single
    assert sel.steps[0] == ("pb", pytest.approx(kendalltau(b, acc).statistic))
    assert sel.kendall == pytest.approx(kendalltau(_log_rank_sum(a, b), acc).statistic)
    assert sel.rule == "log_rank_sum"


def test_values_are_the_rule_over_the_set(two_signals):
    table, _, a, b = two_signals
    np.testing.assert_allclose(ensemble_values(["pa", "pb"], table), _log_rank_sum(a, b))


def test_ties_go_to_the_earlier_candidate_and_a_copy_adds_nothing():
    rng = np.random.default_rng(1)
    x = list(rng.normal(size=50))
    acc = [v + e for v, e in zip(x, rng.normal(scale=0.3, size=50))]
    sel = greedy_select({"y": x, "x": x}, acc, candidates=["x", "y"])
    assert sel.members == ["x"]


def test_max_members_and_min_gain_bound_the_choice(two_signals):
    table, acc, _, _ = two_signals
    assert greedy_select(table, acc, max_members=1).members == ["pb"]
    assert greedy_select(table, acc, min_gain=1.0).members == ["pb"]


def test_lower_is_better_members_are_oriented(two_signals):
    table, acc, a, b = two_signals
    # ntk_cond is registered lower-is-better: its negated signal is as good as the signal
    sel = greedy_select({"ntk_cond": list(-b), "pa": table["pa"]}, acc)
    assert sel.members == ["ntk_cond", "pa"]
    assert sel.kendall == pytest.approx(kendalltau(_log_rank_sum(a, b), acc).statistic)


def test_nulls_rank_last():
    acc = [1.0, 2.0, 3.0, 4.0, 5.0]
    sel = greedy_select({"p": [None, 2.0, 3.0, 4.0, 5.0]}, acc)
    assert sel.kendall == pytest.approx(1.0)
    sel = greedy_select({"p": [1.0, 2.0, 3.0, 4.0, None]}, acc)  # the best network unscored: ranked worst
    assert sel.kendall == pytest.approx(kendalltau([2, 3, 4, 5, 1], acc).statistic)


def test_bad_input_is_refused_with_the_fix():
    with pytest.raises(InputError, match="no scores for zz"):
        greedy_select({"p": [1.0, 2.0, 3.0]}, [1.0, 2.0, 3.0], candidates=["p", "zz"])
    with pytest.raises(InputError, match="one value per accuracy"):
        greedy_select({"p": [1.0, 2.0]}, [1.0, 2.0, 3.0])
    with pytest.raises(InputError, match="at least 3"):
        greedy_select({"p": [1.0, 2.0]}, [1.0, 2.0])


def test_a_selection_registers_as_a_named_ensemble(two_signals):
    from onnxscore.proxies import registry
    from onnxscore.proxies.ensemble import combine, register_ensemble

    table, acc, _, _ = two_signals
    table = {"epads": table["pa"], "param_count": table["pb"]}
    sel = greedy_select(table, acc)
    register_ensemble("chosen_here", sel.members, sel.rule, replace=True)
    try:
        assert combine("chosen_here", table) == pytest.approx(ensemble_values(sel.members, table))
    finally:
        registry.unregister("chosen_here")


def test_the_top_level_api_names_them():
    import onnxscore
    from onnxscore.proxies.ensemble import register_ensemble

    assert onnxscore.select_ensemble is greedy_select and onnxscore.register_ensemble is register_ensemble
    assert {"select_ensemble", "register_ensemble"} <= set(onnxscore.__all__)
