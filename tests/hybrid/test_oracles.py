"""Oracles and the query budget: bounded, cached in the store, blind to the test accuracy."""
from __future__ import annotations

import pytest

from onnxscore.errors import InputError
from onnxscore.oracles import CommandOracle, NB201Oracle, QueriesExhausted, QueryBudget, make_oracle
from onnxscore.spaces.nb201 import NB201Space, load_accuracies
from onnxscore.store import ResultStore

TEST_COLUMNS = {"cifar10", "cifar100", "ImageNet16-120", "cifar10_acc", "cifar100_acc", "imagenet16_acc",
                "cifar10_acc_nb201v11"}


class Guarded(dict):
    """A table row that fails the test the moment anything reads a test-accuracy column."""

    def __getitem__(self, k):
        if k in TEST_COLUMNS:
            raise AssertionError(f"the search read the test column {k!r}")
        return super().__getitem__(k)

    def get(self, k, default=None):
        if k in TEST_COLUMNS:
            raise AssertionError(f"the search read the test column {k!r}")
        return super().get(k, default)

    def values(self):
        raise AssertionError("the search iterated over a whole row")

    def items(self):
        raise AssertionError("the search iterated over a whole row")


def guarded_table() -> dict:
    return {a: Guarded(r) for a, r in load_accuracies().items()}


def test_nb201_oracle_answers_the_validation_column_only():
    table = load_accuracies()
    arch = next(iter(table))
    assert NB201Oracle(guarded_table())(NB201Space(), arch) == table[arch]["cifar10_valid_acc"]
    assert table[arch]["cifar10_valid_acc"] != table[arch]["cifar10"]  # the two columns differ here


def test_query_budget_bounds_counts_and_caches(tmp_path):
    calls = []

    def train(arch):
        calls.append(arch)
        return float(len(calls))

    sp = NB201Space()
    archs = [sp.to_str(sp.sample(__import__("numpy").random.default_rng(i))) for i in range(4)]
    with ResultStore(tmp_path / "s.sqlite") as store:
        qb = QueryBudget(make_oracle(train), 3, sp, "nb201", {}, store=store)
        assert [qb.ask(a) for a in archs[:3]] == [1.0, 2.0, 3.0]
        assert qb.ask(archs[0]) == 1.0  # asked again in the same search: no new call, no new query
        with pytest.raises(QueriesExhausted):
            qb.ask(archs[3])
        assert (qb.queries, qb.new_queries, len(calls)) == (3, 3, 3)
        again = QueryBudget(make_oracle(train), 3, sp, "nb201", {}, store=store)
        assert [again.ask(a) for a in archs[:3]] == [1.0, 2.0, 3.0]  # from the store
        assert (again.queries, again.new_queries, len(calls)) == (3, 0, 3)
        other = QueryBudget(make_oracle(train), 1, sp, "nb201", {"dataset": "cifar100"}, store=store)
        other.ask(archs[0])  # another space key never reuses an answer
        assert other.new_queries == 1


def test_a_failed_training_is_a_null_query_and_not_cached(tmp_path):
    def train(arch):
        raise RuntimeError("CUDA out of memory\nlong trace")

    sp = NB201Space()
    with ResultStore(tmp_path / "s.sqlite") as store:
        qb = QueryBudget(make_oracle(train), 2, sp, "nb201", {}, store=store)
        a = sp.to_str(sp.sample(__import__("numpy").random.default_rng(0)))
        assert qb.ask(a) is None and qb.queries == 1
        assert qb.errors[a] == "RuntimeError: CUDA out of memory"
        assert store.count("metrics") == 0


def test_bad_oracle_settings_are_one_line_errors():
    with pytest.raises(InputError, match="unknown --oracle"):
        make_oracle("imagenet")
    with pytest.raises(InputError, match="not both"):
        make_oracle("nb201", "python t.py {onnx}")
    with pytest.raises(InputError, match=r"must contain \{onnx\}"):
        CommandOracle("python train.py")
    with pytest.raises(InputError, match="placeholder other than"):
        CommandOracle("python train.py {onnx} {epochs}")
    with pytest.raises(InputError, match="at least 1"):
        QueryBudget(make_oracle(lambda a: 1.0), 0, NB201Space(), "nb201", {})
