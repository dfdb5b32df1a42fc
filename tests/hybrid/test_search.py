"""Hybrid search algorithms: K bounds the oracle, the store caches it, the seed fixes the search, and each
algorithm does what its README section says."""
from __future__ import annotations

import math

import numpy as np
import pytest

from onnxscore import searching as S
from onnxscore.hybrid import algorithms
from onnxscore.oracles import FunctionOracle
from onnxscore.spaces.nb201 import OPS, load_accuracies, to_ops
from tests.hybrid.test_oracles import guarded_table

ALGOS = tuple(algorithms())
TABLE = load_accuracies()


def counting_oracle():
    calls = []

    def train(arch):
        calls.append(arch)
        return TABLE[arch]["cifar10_valid_acc"]

    return FunctionOracle(train, "counting"), calls


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("k", [1, 3, 8])
def test_oracle_calls_never_exceed_k(tmp_path, algo, k):
    oracle, calls = counting_oracle()
    res = S.search("nb201", algo=algo, proxy="params", budget=200, seed=3, oracle=oracle, queries=k,
                   store=tmp_path / "s.sqlite")
    assert len(calls) == res.extra["new_queries"] <= k
    assert res.extra["queries"] == len(res.extra["queried"]) <= k
    assert len(set(calls)) == len(calls)  # never retrains an architecture within a search
    assert res.evaluated <= (0 if algo in S.ALGOS else 200)
    best = max((v for _, v in res.extra["queried"] if v is not None), default=None)
    assert res.extra["oracle_accuracy"] == best and res.arch in dict(res.extra["queried"])


@pytest.mark.parametrize("algo", ALGOS)
def test_reruns_hit_the_store_and_same_seed_gives_the_same_search(tmp_path, algo):
    oracle, calls = counting_oracle()
    kw = dict(algo=algo, proxy="params", budget=300, seed=5, oracle=oracle, queries=6)
    first = S.search("nb201", store=tmp_path / "a.sqlite", **kw)
    n = len(calls)
    again = S.search("nb201", store=tmp_path / "a.sqlite", **kw)
    assert len(calls) == n and again.extra["new_queries"] == 0 and again.extra["queries"] == first.extra["queries"]
    fresh = S.search("nb201", store=tmp_path / "b.sqlite", **kw)  # an empty store: same seed, same search
    assert fresh.extra["queried"] == first.extra["queried"] and fresh.arch == first.arch
    other = S.search("nb201", store=tmp_path / "b.sqlite", **{**kw, "seed": 6})
    assert other.extra["queried"] != first.extra["queried"]


@pytest.mark.parametrize("algo", ALGOS)
def test_the_test_accuracy_never_reaches_the_search(tmp_path, algo):
    res = S.search("nb201", algo=algo, proxy="params", budget=300, seed=0, oracle="nb201", queries=6,
                   store=tmp_path / "s.sqlite", table=guarded_table())
    assert res.extra["queries"] == 6
    assert "test_accuracy" not in res.extra  # looked up only by the caller, after the search
    assert S.benchmark_accuracy(S.resolve_space("nb201", {})[1], res.arch, TABLE)["test_accuracy"] == \
        TABLE[res.arch]["cifar10"]


def _hamming(a: str, b: str) -> int:
    return sum(x != y for x, y in zip(to_ops(a), to_ops(b)))


def test_shortlist_warm_starts_in_proxy_order_and_stays_in_the_shortlist(tmp_path):
    k = 8
    res = S.search("nb201", algo="shortlist", proxy="params", budget=500, seed=1, oracle="nb201", queries=k,
                   store=tmp_path / "s.sqlite")
    pool = sorted((e for e in res.history if e.score is not None), key=lambda e: -e.score)  # stable: draw order
    short = [e.encoding for e in pool[: round(2.5 * k)]]
    asked = [a for a, _ in res.extra["queried"]]
    assert asked[:2] == short[:2]  # ceil(8 / 4) warm-start queries, best params first
    assert set(asked) <= set(short) and len(asked) == k
    assert res.evaluated == 500


def test_prenas_queries_mutants_of_its_population(tmp_path):
    k = 10
    res = S.search("nb201", algo="prenas", proxy="params", budget=400, seed=2, oracle="nb201", queries=k,
                   store=tmp_path / "s.sqlite")
    asked = [a for a, _ in res.extra["queried"]]
    size = math.ceil(k / 4)
    for i, a in enumerate(asked[size:], start=size):
        assert min(_hamming(a, b) for b in asked[:i]) == 1  # one mutation away from an earlier member
    scored = {e.encoding for e in res.history}
    assert set(asked) <= scored  # the predictor only ever screens proxy-scored children


def test_hnas_probes_pick_the_argmin_of_the_objective(tmp_path):
    """The first min(int(K/4), 10) BO evaluations probe t = linspace(0, 1) at mu = 1e-2; each picks the unqueried
    pool member minimising mu*|m^2 - t^2| (no cond term), m = params / max params over the pool so far."""
    k, budget = 12, 240
    res = S.search("nb201", algo="hnas", proxy="params", budget=budget, seed=4, oracle="nb201", queries=k,
                   store=tmp_path / "s.sqlite")
    asked = [a for a, _ in res.extra["queried"]]
    hist = [e.encoding for e in res.history]
    sp = S.resolve_space("nb201", {})[1]
    per = budget // k
    for i, t in enumerate(np.linspace(0, 1, 3)):
        pool = [h for h in hist[: per * (i + 1)] if h not in asked[:i] and not S._is_dead(sp, h)]
        p = np.array([sp.params(h) for h in pool], dtype=float)
        m = p / p.max()
        assert asked[i] == pool[int(np.argmin(1e-2 * np.abs(m ** 2 - t ** 2)))]


def test_features_rank_by_direction():
    from onnxscore.hybrid.context import HybridContext
    from onnxscore.oracles import QueryBudget
    from onnxscore.searching import Evaluated, _Run

    sp = S.resolve_space("nb201", {})[1]

    class Fake(S.Evaluator):
        name = "ntk_cond"  # lower is better

        def __call__(self, space, encs):
            return [Evaluated(e, float(i), {"ntk_cond": float(i), "params": float(-i)}, cached=True,
                              higher_is_better=False) for i, e in enumerate(encs)]

    run = _Run(sp, Fake(), 4, np.random.default_rng(0))
    ctx = HybridContext(sp, run, QueryBudget(FunctionOracle(lambda a: 1.0), 1, sp, "nb201", {}), 0)
    evs = ctx.draw_pool(4)
    f = ctx.features([e.encoding for e in evs])
    assert f.shape == (4, 30 + 2)
    assert np.all(f[:, :30].reshape(4, 6, 5).sum(axis=2) == 1)
    assert f[0, 30 + 0] == 1.0 and f[3, 30 + 0] == 0.25  # ntk_cond: the lowest ranks best
    assert f[0, 30 + 1] == 1.0 and f[3, 30 + 1] == 0.25  # params: the highest ranks best
    assert [e.encoding for e in ctx.by_proxy(evs)][0] == evs[0].encoding
    assert OPS[int(np.argmax(f[0, :5]))] == to_ops(evs[0].encoding)[0]


def test_predictor_needs_scikit_learn(monkeypatch):
    import sys

    from onnxscore.errors import MissingExtraError
    from onnxscore.hybrid.context import HybridContext

    monkeypatch.setitem(sys.modules, "sklearn.ensemble", None)
    ctx = HybridContext.__new__(HybridContext)
    ctx.options, ctx.seed = {}, 0
    with pytest.raises(MissingExtraError, match=r'scikit-learn is not installed.*"hybrid" extra'):
        ctx.predictor()


def test_a_gradient_or_forward_proxy_guides_a_hybrid_search(tmp_path):
    """Any registered proxy works: ePADS through the engine and store, on a small pool."""
    res = S.search("nb201", algo="shortlist", proxy="epads", budget=6, seed=0, oracle="nb201", queries=2,
                   store=tmp_path / "s.sqlite", scorer={"batch_size": 8})
    assert res.evaluated == 6 and res.scored >= 1 and res.extra["queries"] == 2
    assert res.extra["proxy_cpu_seconds"] > 0 and res.settings["proxy"] == "epads"
    assert res.score is not None and "epads" in res.scores


def test_hnas_cond_term_follows_the_authors_objective(tmp_path):
    """With --hnas-cond, the first probe (t = 0, mu = 1e-2) minimises mu*m^2 + cond/(m + 1e-6), both terms
    normalised by their pool maximum; computed here independently from the evaluator's raw scores."""

    def x_of(e):
        return 1.0 + sum(OPS.index(op) for op in to_ops(e))

    def c_of(e):
        return 3.0 + (hash(e) % 97)

    class Two(S.Evaluator):
        name, proxies = "x", ("x", "c")

        def __call__(self, space, encs):
            return [S.Evaluated(e, x_of(e), {"x": x_of(e), "c": c_of(e)}, cached=True) for e in encs]

    res = S.search("nb201", algo="hnas", budget=40, seed=0, oracle="nb201", queries=4, evaluator=Two(),
                   store=tmp_path / "s.sqlite", hybrid_options={"cond": "c"})
    pool = [e.encoding for e in res.history[:10]]  # budget / K = 10 drawn before the first pick
    m = np.array([x_of(e) for e in pool])
    m = m / m.max()
    c = np.array([c_of(e) for e in pool], dtype=float)
    c = c / c.max()
    assert res.extra["queried"][0][0] == pool[int(np.argmin(1e-2 * m ** 2 + c / (m + 1e-6)))]
    with pytest.raises(Exception, match="must be scored too"):
        S.search("nb201", algo="hnas", budget=40, seed=0, oracle="nb201", queries=4, evaluator=Two(),
                 store=tmp_path / "s.sqlite", hybrid_options={"cond": "ntk_cond"})


@pytest.mark.parametrize("algo, module", [("shortlist", "sklearn"), ("prenas", "sklearn"), ("hnas", "bayes_opt")])
def test_a_missing_extra_stops_the_search_before_any_query(tmp_path, monkeypatch, algo, module):
    import importlib.util

    from onnxscore.errors import MissingExtraError

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == module else real(name, *a))
    oracle, calls = counting_oracle()
    with pytest.raises(MissingExtraError, match='"hybrid" extra'):
        S.search("nb201", algo=algo, proxy="params", budget=50, oracle=oracle, queries=4, store=tmp_path / "s.sqlite")
    assert calls == []
