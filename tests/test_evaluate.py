"""onnxscore.evaluation: metrics against hand-computed cases (ties, nulls), CSV input, NB201 sampling."""
from __future__ import annotations

import math

import numpy as np
import onnx
import pytest

from onnxscore import evaluation as ev
from onnxscore.errors import InputError
from tests.models import ConvNet


# ---------------------------------------------------------------- Kendall / Spearman

def test_kendall_perfect_reversed_and_one_swap():
    assert ev.kendall([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert ev.kendall([4, 3, 2, 1], [10, 20, 30, 40]) == pytest.approx(-1.0)
    # one discordant pair out of 6: (5 - 1) / 6
    assert ev.kendall([1, 2, 3, 4], [1, 2, 4, 3]) == pytest.approx(4 / 6)


def test_kendall_is_tau_b_with_ties():
    # x ranks (1.5, 1.5, 3), y (1, 2, 3): C = 2, D = 0, one pair tied in x -> 2 / sqrt((3 - 1) * 3)
    assert ev.kendall([5, 5, 7], [1, 2, 3]) == pytest.approx(2 / math.sqrt(6))


def test_null_scores_rank_last_and_tie():
    # None, NaN and -inf are all "null": below every finite score, tied with each other
    for null in (None, float("nan"), -math.inf):
        assert ev.kendall([null, 1.0, 2.0], [0.0, 1.0, 2.0]) == pytest.approx(1.0)
        assert ev.kendall([null, null, 1.0], [1.0, 2.0, 3.0]) == pytest.approx(2 / math.sqrt(6))
    # a null on the best model is the worst possible place for it
    assert ev.kendall([None, 1.0, 2.0], [3.0, 1.0, 2.0]) == pytest.approx(-1 / 3)


def test_spearman_hand_computed():
    # no ties: rho = 1 - 6 sum d^2 / (n (n^2 - 1)) = 1 - 6 * 2 / 60
    assert ev.spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)
    # ties: Pearson of average ranks (1.5, 1.5, 3) vs (1, 2, 3) = sqrt(3) / 2
    assert ev.spearman([None, None, 9.0], [1, 2, 3]) == pytest.approx(math.sqrt(3) / 2)


def test_undefined_correlations_are_none():
    assert ev.kendall([1.0], [2.0]) is None
    assert ev.spearman([None, None, None], [1, 2, 3]) is None  # all nulls: constant
    assert ev.kendall([3, 3, 3], [1, 2, 3]) is None
    with pytest.raises(ValueError):
        ev.kendall([1, 2], [1, 2, 3])


# ---------------------------------------------------------------- top-10% precision

def test_top_k_rounds_half_up_and_is_at_least_one():
    assert [ev.top_k(n) for n in (1, 6, 14, 15, 25, 300, 1000)] == [1, 1, 1, 2, 3, 30, 100]


def test_top_precision_hand_computed():
    acc = list(range(20))  # best two are items 19 and 18
    assert ev.top_precision(acc, acc) == pytest.approx(1.0)
    assert ev.top_precision([-a for a in acc], acc) == pytest.approx(0.0)
    scores = [0.0] * 20
    scores[19], scores[3] = 5.0, 4.0  # picks 19 (right) and 3 (wrong)
    assert ev.top_precision(scores, acc) == pytest.approx(0.5)


def test_top_precision_ties_at_the_cut_share_the_places():
    acc = list(range(10))  # k = 1: the best is item 9
    scores = [0.0] * 10
    scores[9] = scores[2] = 1.0  # two items tied for the one place: each in with probability 1/2
    assert ev.top_precision(scores, acc) == pytest.approx(0.5)
    w = ev.top_membership([3, 2, 2, 2, 1], 2)
    assert w.tolist() == pytest.approx([1, 1 / 3, 1 / 3, 1 / 3, 0])
    # all nulls: every item equally likely, precision = k / n
    assert ev.top_precision([None] * 10, acc) == pytest.approx(0.1)


def test_nulls_never_enter_the_top_ahead_of_scores():
    acc = list(range(10))
    scores = [None] * 9 + [-1e9]  # the only finite score, however low, ranks first
    assert ev.top_precision(scores, acc) == pytest.approx(1.0)


def test_top_precision_is_undefined_below_ten_models():
    assert ev.top_precision([1.0], [50.0]) is None  # was 1.0: a single pick "in the top 10%"
    assert ev.top_precision(list(range(9)), list(range(9))) is None
    assert ev.top_precision(list(range(10)), list(range(10))) == pytest.approx(1.0)
    res = ev.summarize([_row(50.0, 1.0, 1)], ["epads"], "cifar10", {})
    assert res.results["epads"] == {"kendall": None, "spearman": None, "top10_precision": None}
    assert any("undefined (null) for 1 model(s)" in n for n in res.notes())


def test_metrics_keys():
    m = ev.metrics([1, 2, 3], [1, 2, 3])
    assert set(m) == {"kendall", "spearman", "top10_precision"} and m["kendall"] == pytest.approx(1.0)


# ---------------------------------------------------------------- summaries

def _row(acc, score, params, dead=False, done=True):
    return {"label": str(acc), "accuracy": acc, "dead": dead, "params": params,
            "scores": {"epads": score}, "errors": {} if score is not None else {"epads": "-inf"}, "done": done}


def test_summary_counts_nulls_dead_and_flags_proxy_below_params():
    rows = [_row(10.0, None, 0, dead=True), _row(50.0, 3.0, 1), _row(60.0, 2.0, 2), _row(70.0, 1.0, 3),
            _row(80.0, 4.0, 4, done=False)]
    res = ev.summarize(rows, ["epads"], "cifar10", {})
    assert res.n == 4 and res.total == 5  # the unfinished row is left out
    assert res.nulls == {"epads": 1, "params": 0}
    assert res.dead == {"count": 1, "included": True, "null": {"epads": 1}, "rule": ev.DEAD_RULE}
    assert res.results["epads"]["kendall"] == pytest.approx(ev.kendall([None, 3, 2, 1], [10, 50, 60, 70]))
    assert [p for p, *_ in res.below_baseline()] == ["epads"]
    text = res.text()
    assert "falls below the parameter-count baseline" in text and "dead architectures: 1" in text
    ex = ev.summarize(rows, ["epads"], "cifar10", {}, exclude_dead=True)
    assert ex.n == 3 and ex.nulls["epads"] == 0 and ex.dead["included"] is False


def _cond_row(acc, cond, params):
    return {"label": str(acc), "accuracy": acc, "dead": False, "params": params,
            "scores": {"ntk_cond": cond}, "errors": {}, "done": True}


def test_lower_is_better_proxy_is_compared_with_params_in_its_direction():
    # ntk_cond falls as accuracy rises: raw tau -1 is a perfect ranking and beats params' tau 1/3
    good = [_cond_row(a, c, p) for a, c, p in [(10, 9.0, 2), (20, 8.0, 1), (30, 7.0, 4), (40, 6.0, 3)]]
    res = ev.summarize(good, ["ntk_cond"], "cifar10", {})
    assert res.results["ntk_cond"]["kendall"] == pytest.approx(-1.0)
    assert res.results["params"]["kendall"] == pytest.approx(1 / 3)
    assert res.below_baseline() == [] and "falls below" not in res.text()
    # rising with accuracy is the wrong direction for it: below params, said with both numbers
    bad = [_cond_row(a, -c, p) for a, c, p in [(10, 9.0, 2), (20, 8.0, 1), (30, 7.0, 4), (40, 6.0, 3)]]
    res = ev.summarize(bad, ["ntk_cond"], "cifar10", {})
    assert [p for p, *_ in res.below_baseline()] == ["ntk_cond"]
    assert "-1.000 in its lower-is-better direction" in res.text()


def test_to_dict_has_the_documented_shape():
    rows = [_row(float(a), float(a), a) for a in range(5)]
    d = ev.summarize(rows, ["epads"], "cifar10", {"seed": 1}).to_dict()
    assert d["n"] == 5 and d["dataset"] == "cifar10" and d["settings"] == {"seed": 1}
    assert set(d["results"]) == {"epads", "params"}
    assert all(set(v) == {"kendall", "spearman", "top10_precision"} for v in d["results"].values())


# ---------------------------------------------------------------- inputs

def test_sample_rows_match_the_documented_rule():
    got = ev.sample_rows(15625, 300, 2026)
    assert np.array_equal(got, np.random.default_rng(2026).choice(15625, 300, replace=False))
    with pytest.raises(InputError):
        ev.sample_rows(10, 11, 0)


@pytest.fixture()
def model_files(tmp_path):
    paths = []
    for seed in range(3):
        p = tmp_path / "models" / f"net{seed}.onnx"
        p.parent.mkdir(exist_ok=True)
        onnx.save(ConvNet(seed=seed).onnx(), p)
        paths.append(p)
    return paths


def test_read_csv_header_headerless_and_relative_paths(tmp_path, model_files):
    a = tmp_path / "a.csv"
    a.write_text("id,accuracy,model\n1,91.5,models/net0.onnx\n2,88,models/net1.onnx\n")
    assert ev.read_accuracy_csv(a) == [(str(model_files[0]), 91.5), (str(model_files[1]), 88.0)]
    b = tmp_path / "b.csv"
    b.write_text(f"{model_files[2]},70.25\nmodels/net0.onnx,1\n")
    assert ev.read_accuracy_csv(b) == [(str(model_files[2]), 70.25), (str(model_files[0]), 1.0)]


@pytest.mark.parametrize("body, needle", [
    ("model,accuracy\nmodels/net0.onnx,abc\n", "not a number"),
    ("model,accuracy\nmissing.onnx,1\n", "not found"),
    ("model,accuracy\n", "no rows"),
])
def test_read_csv_errors_say_which_line(tmp_path, model_files, body, needle):
    p = tmp_path / "bad.csv"
    p.write_text(body)
    with pytest.raises(InputError, match=needle):
        ev.read_accuracy_csv(p)


def test_nb201_items_follow_the_table_and_share_keys_with_rank(shared_data):
    from onnxscore.engine import space_candidate, space_candidates
    from onnxscore.spaces.nb201 import is_dead, load_accuracies

    items, info = ev.nb201_items("c100", 5, 7, build_seed=3)
    rows = list(load_accuracies().values())
    want = np.random.default_rng(7).choice(15625, 5, replace=False)
    assert [it.accuracy for it in items] == [rows[i]["cifar100_acc"] for i in want]
    assert [it.dead for it in items] == [is_dead(rows[i]["arch_str"]) for i in want]
    assert info["dataset"] == "cifar100" and info["sample_seed"] == 7 and info["build_seed"] == 3
    # the key of a member equals the one `onnxscore rank --space nb201` gives it: the caches are shared
    ref = space_candidates("nb201", 2, seed=0, build_seed=3, dataset="cifar100")
    for c in ref:
        enc = c.space[2]
        mine = space_candidate("nb201", __import__("onnxscore.spaces", fromlist=["get_space"])
                                   .get_space("nb201", dataset="cifar100"), {"dataset": "cifar100"}, enc, 3)
        assert mine.key == c.key and mine.space == c.space


def test_image_batch_is_the_proxies_md_batch(tmp_path, shared_data):
    from onnxscore.datasets import cifar10_batch

    path, desc = ev.image_batch(tmp_path, 8, 2027, 16)
    assert np.array_equal(np.load(path), cifar10_batch(batch_size=8, seed=2027, size=16))
    assert "16x16" in desc and "stand-ins" in desc and "2027" in desc
    assert ev.image_batch(tmp_path, 8, 2027, 16)[0] == path  # written once, reused
