"""onnxscore.searching: determinism, budgets, evolution on a toy space with a known optimum, the store, baselines."""
from __future__ import annotations

import numpy as np
import onnx
import pytest

from onnxscore.edge.macs import count_macs
from onnxscore.errors import InputError
from onnxscore.graph.params import count_params
from onnxscore.searching import (FunctionEvaluator, ParamsEvaluator, RandomEvaluator, mean_std, search,
                              space_candidate, summarize)
from onnxscore.spaces.nb201 import NB201Space, is_dead
from onnxscore.spaces.toy import MobileNetLikeSpace, ToySpace

SCORER = {"batch_size": 8, "seed": 0}  # tiny batch: the toy networks take milliseconds


class Counting(FunctionEvaluator):
    """A FunctionEvaluator that records every encoding it is asked to score."""

    def __init__(self, fn):
        super().__init__(fn)
        self.asked: list[str] = []

    def __call__(self, space, encodings):
        self.asked.extend(encodings)
        return super().__call__(space, encodings)


def _encs(res):
    return [e.encoding for e in res.history]


# ----------------------------------------------------------------------------- determinism


@pytest.mark.parametrize("algo", ["random", "evolution"])
def test_search_with_a_proxy_is_deterministic_for_a_seed(tmp_path, algo):
    runs = [search("toy", algo=algo, proxy="epads", budget=10, seed=3, store=tmp_path / f"s{i}.sqlite",
                   scorer=SCORER, threads=1) for i in range(2)]  # separate stores: nothing cached
    a, b = runs
    assert a.scored == b.scored == 10
    assert _encs(a) == _encs(b)
    assert [e.score for e in a.history] == [e.score for e in b.history]
    assert (a.arch, a.score) == (b.arch, b.score) and a.score is not None
    other = search("toy", algo=algo, proxy="epads", budget=10, seed=4, store=tmp_path / "s0.sqlite",
                   scorer=SCORER, threads=1)
    assert _encs(other) != _encs(a)


@pytest.mark.parametrize("algo", ["random", "evolution"])
def test_objective_search_is_deterministic(algo):
    sp = ToySpace()
    a = search(sp, algo=algo, objective=sp.objective, budget=40, seed=7)
    b = search(sp, algo=algo, objective=sp.objective, budget=40, seed=7)
    assert _encs(a) == _encs(b) and a.arch == b.arch


# ----------------------------------------------------------------------------- budgets


@pytest.mark.parametrize("algo", ["random", "evolution"])
@pytest.mark.parametrize("budget", [1, 5, 37, 150])
def test_budget_is_never_exceeded_and_nothing_is_scored_twice(algo, budget):
    sp = ToySpace()
    ev = Counting(sp.objective)
    res = search(sp, algo=algo, evaluator=ev, budget=budget, seed=1)
    assert len(ev.asked) == len(set(ev.asked)) == res.evaluated == budget
    assert res.arch in ev.asked


@pytest.mark.parametrize("algo", ["random", "evolution"])
def test_size_limits_filter_before_scoring_and_do_not_consume_budget(algo):
    sp = ToySpace()
    limit = int(np.percentile([sp.params(e) for e in sp.all()], 30))
    ev = Counting(sp.objective)
    res = search(sp, algo=algo, evaluator=ev, budget=40, seed=2, max_params=limit)
    assert res.evaluated == 40 and res.rejected > 0
    assert all(sp.params(e) <= limit for e in ev.asked)
    assert res.params <= limit


@pytest.mark.parametrize("algo", ["random", "evolution"])
def test_budget_larger_than_the_allowed_space_stops_with_a_note(algo):
    sp = ToySpace(depth=3, widths=(2, 4, 6))
    limit = sorted(sp.params(e) for e in sp.all())[4]  # about five architectures fit
    allowed = {e for e in sp.all() if sp.params(e) <= limit}
    ev = Counting(sp.objective)
    res = search(sp, algo=algo, evaluator=ev, budget=40, seed=0, max_params=limit)
    assert set(ev.asked) <= allowed and res.evaluated <= len(allowed) < 40
    assert res.notes


def test_impossible_size_limit_is_an_error():
    sp = ToySpace()
    with pytest.raises(InputError, match="max-params"):
        search(sp, objective=sp.objective, budget=5, max_params=10)


# ----------------------------------------------------------------------------- evolution


def test_evolution_improves_on_its_initial_population_and_beats_random_search():
    sp = ToySpace()  # objective: positions equal to sp.target; optimum len(target) only at target
    optimum = sp.objective(sp.target)
    evo_best, rs_best = [], []
    for seed in range(8):
        evo = search(sp, algo="evolution", objective=sp.objective, budget=100, seed=seed, population=10, tournament=3)
        initial = max(e.score for e in evo.history[:10])
        assert evo.score > initial
        assert evo.score <= optimum
        evo_best.append(evo.score)
        rs_best.append(search(sp, algo="random", objective=sp.objective, budget=100, seed=seed).score)
    assert np.mean(evo_best) > np.mean(rs_best)
    assert optimum in evo_best  # the known optimum is reached by at least one seed


def test_evolution_children_differ_from_a_parent_in_one_choice():
    sp = ToySpace()
    res = search(sp, algo="evolution", objective=sp.objective, budget=40, seed=0, population=10)
    pool = set(_encs(res)[:10])
    for e in _encs(res)[10:]:
        assert any(sum(a != b for a, b in zip(e.split("-"), p.split("-"))) == 1 for p in pool)
        pool.add(e)


# ----------------------------------------------------------------------------- nulls and dead architectures


def test_dead_architectures_score_null_and_never_win():
    sp = NB201Space("cifar10")
    res = search(sp, algo="random", objective=lambda e: 1e9 if is_dead(e) else 1.0, budget=600, seed=0)
    assert res.dead > 0
    assert all(e.score is None for e in res.history if is_dead(e.encoding))
    assert not is_dead(res.arch)


def test_null_scores_never_win_and_all_null_finds_nothing():
    sp = ToySpace()
    res = search(sp, algo="evolution", objective=lambda e: None if e.startswith("0") else 1.0, budget=30, seed=0)
    assert res.arch is not None and not res.arch.startswith("0")
    nothing = search(sp, algo="random", objective=lambda e: None, budget=10, seed=0)
    assert nothing.arch is None and nothing.score is None and nothing.notes


# ----------------------------------------------------------------------------- store


def test_store_hits_count_toward_the_budget_but_are_not_rescored(tmp_path):
    store = tmp_path / "s.sqlite"
    first = search("toy", algo="random", proxy="epads", budget=12, seed=0, store=store, scorer=SCORER,
                   score_also=["naswot"], threads=1)
    again = search("toy", algo="random", proxy="epads", budget=12, seed=0, store=store, scorer=SCORER, threads=1)
    assert first.scored == 12 and again.scored == 0 and again.evaluated == 12
    assert (again.arch, again.score) == (first.arch, first.score)
    # naswot was scored alongside epads: a naswot search over the same candidates is free
    nw = search("toy", algo="random", proxy="naswot", budget=12, seed=0, store=store, scorer=SCORER, threads=1)
    assert nw.scored == 0 and nw.score is not None
    # evolution with the same seed starts from the same draws: its initial population is in the store
    evo = search("toy", algo="evolution", proxy="epads", budget=15, seed=0, store=store, scorer=SCORER,
                 population=10, threads=1)
    assert evo.evaluated == 15 and evo.scored <= 5


def test_candidate_keys_match_the_ranking_engine():
    from onnxscore.engine import space_candidates

    for name, kw in (("nb201", {"dataset": "cifar100"}), ("toy", {})):
        (c,) = space_candidates(name, 1, seed=5, build_seed=2, **kw)
        enc = c.space[2]
        from onnxscore.spaces import get_space

        mine = space_candidate(name, get_space(name, **kw), kw, enc, 2)
        assert mine.key == c.key and mine.space == c.space


def test_a_space_instance_needs_a_registered_name_for_proxy_scoring():
    with pytest.raises(InputError, match="register"):
        search(ToySpace(depth=2), proxy="epads", budget=2)


# ----------------------------------------------------------------------------- baselines


def test_params_baseline_picks_the_largest_candidate():
    sp = ToySpace()
    res = search(sp, algo="random", proxy="params", budget=25, seed=0)
    assert res.score == res.params == max(sp.params(e) for e in _encs(res))
    assert res.scored == 0


def test_random_choice_is_uniform_over_candidates_and_seeded():
    sp = ToySpace()
    picks = [search(sp, algo="random", proxy="random", budget=20, seed=s).arch for s in range(12)]
    again = [search(sp, algo="random", proxy="random", budget=20, seed=s).arch for s in range(12)]
    assert picks == again
    ev = RandomEvaluator(0)
    out = ev(sp, [sp.sample(np.random.default_rng(i)) for i in range(200)])
    keys = np.array([o.score for o in out])
    assert 0 <= keys.min() and keys.max() < 1 and abs(keys.mean() - 0.5) < 0.1
    # the pick is not tied to the score order of another proxy: it differs from the params pick sometimes
    params = [search(sp, algo="random", proxy="params", budget=20, seed=s).arch for s in range(12)]
    assert picks != params


def test_params_evaluator_nulls_dead_architectures():
    sp = NB201Space("cifar10")
    dead = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    (ev,) = ParamsEvaluator()(sp, [dead])
    assert ev.score is None


# ----------------------------------------------------------------------------- spaces and output


@pytest.mark.parametrize("space", [ToySpace(), MobileNetLikeSpace()])
def test_example_spaces_closed_forms_match_the_built_graph(space):
    rng = np.random.default_rng(0)
    for _ in range(3):
        enc = space.sample(rng)
        model = space.build(enc, seed=1)
        onnx.checker.check_model(model)
        assert space.params(enc) == count_params(model)
        assert space.macs(enc) == count_macs(model).total
        child = space.mutate(enc, rng)
        assert child != enc and space.from_str(child) == child
    with pytest.raises(InputError):
        space.from_str("nonsense")


def test_written_onnx_is_the_best_arch_and_is_never_overwritten(tmp_path):
    sp = ToySpace()
    out = tmp_path / "best.onnx"
    res = search("toy", algo="random", proxy="params", budget=10, seed=0, output=out)
    model = onnx.load(out)
    props = {p.key: p.value for p in model.metadata_props}
    assert props["onnxscore.search.arch"] == res.arch and count_params(model) == sp.params(res.arch)
    before = out.read_bytes()
    with pytest.raises(InputError, match="--force"):
        search("toy", algo="random", proxy="params", budget=10, seed=1, output=out)
    assert out.read_bytes() == before
    res2 = search("toy", algo="random", proxy="params", budget=10, seed=1, output=out, force=True)
    assert {p.key: p.value for p in onnx.load(out).metadata_props}["onnxscore.search.arch"] == res2.arch


def test_summary_mean_and_std():
    sp = ToySpace()
    rs = [search(sp, algo="random", objective=sp.objective, budget=10, seed=s) for s in range(4)]
    summ = summarize(rs)
    assert summ["repeats"] == 4
    assert summ["score"]["mean"] == pytest.approx(np.mean([r.score for r in rs]))
    assert summ["score"]["std"] == pytest.approx(np.std([r.score for r in rs], ddof=1))
    assert mean_std([None, 2.0]) == {"mean": 2.0, "std": 0.0, "n": 1}


def test_python_api_and_cli_search_score_the_same_batch_with_the_same_keys(tmp_path, capsys):
    """search("nb201") takes the space's benchmark batch (the protocol's CIFAR-10 images) as the CLI does,
    so a search run from Python finds every candidate the CLI scored in the store."""
    import json

    from onnxscore.cli.main import main
    from onnxscore.searching import search

    store = tmp_path / "s.sqlite"
    assert main(["search", "--space", "nb201", "--budget", "3", "--store", str(store), "--no-onnx", "--json",
                 "-q", "--workers", "0", "-b", "16"]) in (0, None)
    cli = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    api = search("nb201", budget=3, store=str(store), scorer={"batch_size": 16}, workers=0)
    assert api.scored == 0 and api.evaluated == 3  # every candidate came from the CLI's store rows
    assert api.arch == cli["arch"] and api.score == pytest.approx(cli["score"], rel=0, abs=0)
    assert "cifar10" in api.settings["batch"] and api.settings["batch"] == cli["settings"]["batch"]
    rnd = search("nb201", budget=3, store=str(store), scorer={"batch_size": 16}, workers=0, batch_source="random")
    assert rnd.scored == 3 and "batch" not in rnd.settings  # another batch: other keys, scored anew


def test_a_space_defined_in_an_importable_module_reaches_workers_without_naming_it(tmp_path, monkeypatch):
    """search(workers=1) on a space registered from an importable module: the workers import that
    module (onnxscore.searching.worker_spec) instead of refusing or probing a subprocess."""
    from onnxscore.searching import worker_spec

    pkg = tmp_path / "myspaces_auto.py"
    pkg.write_text("from onnxscore.spaces import register_space\nfrom onnxscore.spaces.toy import ToySpace\n\n"
                   "@register_space('tiny-auto-spec')\nclass Tiny(ToySpace):\n    name = 'tiny-auto-spec'\n"
                   "    def __init__(self):\n        super().__init__(depth=3, widths=(2, 4))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    import importlib

    importlib.import_module("myspaces_auto")
    assert worker_spec("tiny-auto-spec") == "myspaces_auto" and worker_spec("nb201") is None
    res = search("tiny-auto-spec", budget=3, store=str(tmp_path / "s.sqlite"), scorer={"batch_size": 8}, workers=1)
    assert res.scored == 3 and res.score is not None


def test_a_space_defined_in_main_is_refused_for_workers():
    from onnxscore.errors import InputError
    from onnxscore.searching import worker_spec
    from onnxscore.spaces import _REGISTRY
    from onnxscore.spaces.toy import ToySpace

    class Local(ToySpace):
        name = "tiny-main-space"

    Local.__module__ = "__main__"
    _REGISTRY["tiny-main-space"] = Local
    try:
        with pytest.raises(InputError, match="cannot import the space"):
            worker_spec("tiny-main-space")
    finally:
        del _REGISTRY["tiny-main-space"]
