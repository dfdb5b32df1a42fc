"""`onnxscore select`: members chosen from a rank CSV with accuracies added, written as a --proxy-module."""
from __future__ import annotations

import csv

import numpy as np
import pytest
from scipy.stats import kendalltau

from onnxscore.cli.main import main
from tests.cli.test_bad_input import assert_one_line_error, run


@pytest.fixture()
def ranked(tmp_path, capsys, monkeypatch):
    """`rank` of 8 NB201 cells by three structural proxies, with an accuracy column that follows flops."""
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "rank", "--space", "nb201", "--sample", "8", "-p", "layers,flops,param_count",
                       "--csv", "r.csv", "--workers", "1")
    assert code == 0, err
    rows = list(csv.DictReader(open("r.csv", newline="")))
    for i, r in enumerate(rows):
        r["acc"] = "" if i == 0 else str(float(r["flops"]) / 1e6 + 0.01 * i)  # the first: not trained
    with open("scores.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return tmp_path, rows


def test_select_writes_a_module_that_rank_can_use(ranked, capsys):
    tmp, rows = ranked
    code, out, err = run(capsys, "select", "scores.csv", "--accuracy", "acc", "--module", "mine.py", "--name", "mine")
    assert code == 0, err
    assert "7 architectures with accuracies" in out  # the row without an accuracy is left out
    assert "chosen: flops" in out
    code, _, err = run(capsys, "rank", "--space", "nb201", "--sample", "8", "--proxy-module", "mine.py",
                       "-p", "mine,flops", "--csv", "again.csv", "--workers", "1")
    assert code == 0, err
    again = list(csv.DictReader(open(tmp / "again.csv", newline="")))
    mine = [float(r["mine"]) for r in again]
    flops = [float(r["flops"]) for r in again]
    assert kendalltau(mine, flops).statistic == pytest.approx(1.0)  # one member: its log rank


def test_params_is_a_candidate_as_param_count(ranked, capsys):
    code, out, _ = run(capsys, "select", "scores.csv", "--accuracy", "acc", "--candidates", "param_count,layers")
    assert code == 0
    assert "candidates: param_count, layers" in out


def test_bad_input(ranked, capsys):
    tmp, _ = ranked
    assert_one_line_error(*run(capsys, "select", "scores.csv", "--accuracy", "top1")[::2], "no column 'top1'")
    assert_one_line_error(*run(capsys, "select", "scores.csv", "--accuracy", "acc", "--candidates", "swap")[::2],
                          "no scores for swap")
    (tmp / "mine.py").write_text("# mine\n")
    assert_one_line_error(*run(capsys, "select", "scores.csv", "--accuracy", "acc", "--module", "mine.py")[::2],
                          "--force")
    assert (tmp / "mine.py").read_text() == "# mine\n"
    assert_one_line_error(*run(capsys, "select", "scores.csv", "--accuracy", "acc", "--module", "scores.csv",
                               "--force")[::2])
    rows = list(csv.reader(open(tmp / "scores.csv", newline="")))
    rows[2][rows[0].index("acc")] = "high"
    with open(tmp / "bad.csv", "w", newline="") as f:
        csv.writer(f).writerows(rows)
    assert_one_line_error(*run(capsys, "select", "bad.csv", "--accuracy", "acc")[::2], "line 3", "not a number")
    assert main(["select", "scores.csv", "--accuracy", "acc", "--rule", "nope"]) == 2


def test_a_column_of_your_own_proxy_counts_with_its_module_and_direction(ranked, capsys):
    tmp, rows = ranked
    (tmp / "own.py").write_text(
        "import onnxscore\n\n"
        "@onnxscore.register_proxy('smallness', 'minus flops, lower is better', needs=('graph',),\n"
        "                          higher_is_better=False, replace=True)\n"
        "def smallness(model, ctx):\n    return 0.0\n")
    with open(tmp / "own.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["model", "smallness", "acc"])
        for r in rows[1:]:
            w.writerow([r["model"], -float(r["flops"]), r["acc"]])
    code, out, _ = run(capsys, "select", "own.csv", "--accuracy", "acc")
    assert code == 2  # without its module the column is no proxy
    from onnxscore.proxies import registry

    try:
        code, out, err = run(capsys, "select", "own.csv", "--accuracy", "acc", "--proxy-module", "own.py")
    finally:
        registry.unregister("smallness")
    assert code == 0, err
    assert "chosen: smallness" in out
    kendall = float(out.split("Kendall ")[-1].split()[0])
    assert kendall > 0.9  # lower is better: the negated flops rank as flops do
