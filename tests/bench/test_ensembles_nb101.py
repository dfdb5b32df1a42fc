"""bench/ensembles_nb101.py: NASLib's columns are averaged over the rows of each network, in evaluate's order."""
import csv

import pytest

from bench.ensembles_nb101 import NASLIB, naslib_columns

CELL_A = ("0100000;0010000;0001000;0000100;0000010;0000001;0000000",
          "input|conv3x3-bn-relu|conv1x1-bn-relu|maxpool3x3|conv3x3-bn-relu|conv3x3-bn-relu|output")
# vertex 2 is on no input -> output path: it prunes away, so this is the 6-vertex chain, not CELL_A
CELL_B = ("0100010;0010000;0000000;0000000;0000000;0000001;0000000",
          "input|conv3x3-bn-relu|conv1x1-bn-relu|maxpool3x3|conv3x3-bn-relu|conv3x3-bn-relu|output")
CELL_B2 = ("0100010;0010000;0000000;0000000;0000000;0000001;0000000",
           "input|conv1x1-bn-relu|maxpool3x3|maxpool3x3|conv3x3-bn-relu|conv3x3-bn-relu|output")


def _write(path, cells):
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["adjacency", "ops", "val_accuracy"] + NASLIB)
        for i, (adj, ops) in enumerate(cells):
            w.writerow([adj, ops, 90 + i] + [10 * i + k for k in range(len(NASLIB))])


def test_columns_are_the_mean_over_each_networks_rows(tmp_path):
    p = tmp_path / "nb101.csv"
    _write(p, [CELL_A, CELL_B, CELL_A, CELL_B2])
    from onnxscore.spaces.nb101_benchmark import load_table

    table = load_table(p)
    assert [e["rows"] for e in table.values()][:1] == [[0, 2]]  # rows 0 and 2 are one network
    # evaluate labels a network "first row:cell"; the order of the labels is kept, whatever it is
    firsts = [e["rows"][0] for e in table.values()]
    labels = [f"{r}:x" for r in reversed(firsts)]
    cols = naslib_columns(labels, p)
    by_first = dict(zip(reversed(firsts), range(len(firsts))))
    k = NASLIB.index("synflow")
    assert cols["synflow"][by_first[0]] == pytest.approx((0 + 20) / 2 + k)
    for first in firsts:
        rows = next(e["rows"] for e in table.values() if e["rows"][0] == first)
        assert cols["flops"][by_first[first]] == pytest.approx(sum(10 * r for r in rows) / len(rows))


def _run(labels, proxies, **settings):
    base = {"batch_size": 128, "sigma": 1.0, "noise_seed": 0, "batch_seed": 2027, "grad_batch_size": 64}
    return {"meta": {"elapsed_s": 1.0}, "settings": {**base, **settings, "proxies": proxies},
            "results": {p: {"kendall": 0.1 * i} for i, p in enumerate(proxies + ["params"])},
            "nulls": {proxies[0]: 1},
            "rows": [{"label": lb, "accuracy": 90.0, "scores": {p: float(i) for p in proxies}}
                     for i, lb in enumerate(labels)]}


def test_merge_adds_the_later_runs_proxies_to_every_network():
    from bench.ensembles_nb101 import merge

    a, b = _run(["0:x", "3:y"], ["epads", "naswot"]), _run(["0:x", "3:y"], ["snip"])
    b["results"]["params"] = {"kendall": -1.0}  # params is the earlier run's: the same networks, the same counts
    m = merge(a, b)
    assert list(m["results"]) == ["epads", "naswot", "params", "snip"]
    assert m["results"]["params"] == {"kendall": 0.2}
    assert m["rows"][1]["scores"] == {"epads": 1.0, "naswot": 1.0, "snip": 1.0}
    assert m["settings"]["proxies"] == ["epads", "naswot", "snip"]
    assert m["nulls"] == {"epads": 1, "snip": 1}
    assert m["meta"]["merged"] == [{"elapsed_s": 1.0}]
    c = _run(["0:x", "3:y"], ["grasp"])
    c["meta"]["elapsed_s"] = 2.0
    assert merge(m, c)["meta"]["merged"] == [{"elapsed_s": 1.0}, {"elapsed_s": 2.0}]  # both later runs recorded


def test_proxies_subset_only_with_only_gradient_and_only_gradient_proxies():
    from bench.ensembles_nb101 import GRADIENT, chosen_proxies

    assert chosen_proxies(False, True, None) == list(GRADIENT)
    assert chosen_proxies(False, True, "snip, synflow") == ["snip", "synflow"]
    assert "grasp" not in chosen_proxies(False, False, None) and "grasp" in chosen_proxies(True, False, None)
    with pytest.raises(SystemExit, match="goes with --only-gradient"):
        chosen_proxies(False, False, "snip")
    with pytest.raises(SystemExit, match="not epads"):
        chosen_proxies(False, True, "snip,epads")
    with pytest.raises(SystemExit, match="not none"):
        chosen_proxies(False, True, ",")


def test_merge_refuses_other_networks_or_other_settings():
    from bench.ensembles_nb101 import merge

    a = _run(["0:x", "3:y"], ["epads"])
    with pytest.raises(SystemExit, match="different networks"):
        merge(a, _run(["3:y", "0:x"], ["snip"]))
    with pytest.raises(SystemExit, match="different settings"):
        merge(a, _run(["0:x", "3:y"], ["snip"], grad_batch_size=32))


def _rows(n=60, seed=3):
    import numpy as np

    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=n), rng.normal(size=n)
    acc = a + b
    return [{"label": str(i), "accuracy": float(acc[i]), "params": float(a[i] + rng.normal()),
             "scores": {"epads": float(a[i]), "naswot": float(b[i]), "az_nas": float(a[i] + b[i]),
                        "swap": float(rng.normal())}} for i in range(n)]


def test_the_pool_is_every_single_proxy_and_params_without_ensembles():
    from bench.ensembles_nb101 import candidate_pool

    rows = _rows()
    assert candidate_pool(rows) == ["epads", "naswot", "swap", "param_count"]
    rows[0]["params"] = None
    assert "param_count" not in candidate_pool(rows)


def test_cross_validation_chooses_on_one_half_and_reports_on_the_other():
    from bench.ensembles_nb101 import _column, candidate_pool, cross_validate
    from onnxscore.evaluation import kendall
    from onnxscore.proxies.ensemble.select import ensemble_values, greedy_select

    rows = _rows()
    cv = cross_validate(rows, repeats=2, seed=5)
    assert len(cv["folds"]) == 4
    pool = candidate_pool(rows)
    for f in cv["folds"]:
        assert f["dev_n"] + f["test_n"] == len(rows)
    import numpy as np

    perm = np.random.default_rng(5).permutation(len(rows))
    dev, test = sorted(perm[:30]), sorted(perm[30:])
    sel = greedy_select({p: _column(rows, dev, p) for p in pool}, [rows[i]["accuracy"] for i in dev], pool)
    first = cv["folds"][0]
    assert first["selection"]["members"] == sel.members
    test_acc = [rows[i]["accuracy"] for i in test]
    table = {p: _column(rows, test, p) for p in pool}
    assert first["ensemble"] == pytest.approx(kendall(ensemble_values(sel.members, table), test_acc))
    assert first["singles"]["param_count"] == pytest.approx(kendall(table["param_count"], test_acc))
    assert table["param_count"] == [rows[i]["params"] for i in test]
    # a test half's accuracies take no part in the choice: scrambling them leaves the members as they were
    scrambled = [dict(r) for r in rows]
    for i in test:
        scrambled[i]["accuracy"] = -scrambled[i]["accuracy"]
    assert cross_validate(scrambled, repeats=1, seed=5)["folds"][0]["selection"] == first["selection"]
    s = cv["summary"]
    assert s["ensemble_mean"] == pytest.approx(np.mean([f["ensemble"] for f in cv["folds"]]))
    assert s["wins_over_test_best_single"] == sum(f["ensemble"] > f["test_best_single"][1] for f in cv["folds"])
    assert set(s["members_used"]) <= set(pool)
