"""The front door of hybrid search: a proxy (--budget evaluations) and an oracle (--queries answers)."""
from __future__ import annotations

import time
from typing import Any, Callable, Sequence

import numpy as np

from onnxscore.errors import InputError


def hybrid_search(space: Any = "nb201", *, algo: str = "shortlist", proxy: str = "params", budget: int = 1000,
                  queries: int = 20, oracle: Any = "nb201", train_cmd: str | None = None, seed: int = 0,
                  space_kwargs: dict | None = None, score_also: Sequence[str] = (), max_params=None, max_macs=None,
                  store=None, scorer: dict | None = None, build_seed: int = 0, workers: int = 0, threads: int = 1,
                  timeout_s: float | None = None, train_timeout_s: float | None = None, modules: Sequence[str] = (),
                  batch_source: str = "auto", batch_seed: int | None = None, options: dict | None = None,
                  table: Any = None, evaluator=None, on_step: Callable | None = None):
    """Search `space` spending at most `queries` oracle answers and `budget` proxy evaluations; returns a
    searching.SearchResult whose arch is the queried architecture with the best answer.

    oracle: "nb201" (CIFAR-10 validation accuracy), an onnxscore.oracles.Oracle, or a callable arch -> accuracy;
    train_cmd: "CMD {onnx} {arch}" instead, run per query. Answers are cached in the store.
    algo: shortlist | hnas | prenas | random | evolution (the last two query the oracle directly, no proxy).
    options: per-algorithm settings (shortlist, warm, population, offspring, tournament, cond, trees).
    """
    from onnxscore import searching as S
    from onnxscore.edge.pareto import parse_count
    from onnxscore.hybrid import algorithms, get_algorithm
    from onnxscore.hybrid.context import HybridContext
    from onnxscore.oracles import QueryBudget, make_oracle
    from onnxscore.store import DEFAULT_STORE, ResultStore

    from onnxscore.hybrid import check_available

    fn = get_algorithm(algo)
    check_available(algo)
    orc = make_oracle(None if train_cmd else oracle, train_cmd, table=table, build_seed=build_seed,
                      timeout_s=train_timeout_s)
    if orc is None:
        raise InputError(f"--algo {algo} needs an oracle: --oracle nb201 or --train-cmd \"CMD {{onnx}} {{arch}}\"")
    name, sp, kwargs = S.resolve_space(space, space_kwargs)
    if orc.name == "nb201" and name != "nb201":
        raise InputError(f"--oracle nb201 answers NAS-Bench-201 architectures; the space is {name!r} "
                         "(use --train-cmd for your own training)")
    max_params, max_macs = parse_count(max_params), parse_count(max_macs)
    direct = algo in ("random", "evolution")
    own_store = not isinstance(store, ResultStore)
    rs = ResultStore(store or DEFAULT_STORE) if own_store else store
    own_eval = evaluator is None
    if evaluator is None:
        if direct:
            evaluator = S.ParamsEvaluator()  # never called: the direct baselines see no proxy
        else:
            kw = dict(score_also=score_also, scorer=scorer, store=rs, build_seed=build_seed, workers=workers,
                      threads=threads, timeout_s=timeout_s, modules=modules, batch_source=batch_source)
            if batch_seed is not None:
                kw["batch_seed"] = batch_seed
            evaluator = S.proxy_evaluator(name, sp, kwargs, proxy, seed, **kw)
    opts = dict(options or {})
    settings = {"space": name, "space_kwargs": kwargs, "algo": algo, "algo_summary": algorithms()[algo],
                "proxy": None if direct else evaluator.name, "budget": 0 if direct else int(budget),
                "queries_limit": int(queries), "seed": int(seed), "max_params": max_params, "max_macs": max_macs,
                "oracle": orc.describe(), "options": opts,
                "budget_rule": "budget: distinct candidates scored by the proxy; queries: distinct oracle answers"}
    if not direct:
        settings.update(evaluator.settings())
    t0, c0 = time.perf_counter(), S._cpu_time()
    rng = np.random.default_rng(int(seed))
    proxy_run = S._Run(sp, evaluator, max(1, int(budget)) if not direct else 1, rng, max_params, max_macs, on_step)
    qb = QueryBudget(orc, queries, sp, name, kwargs, store=rs)
    ctx = HybridContext(sp, proxy_run, qb, seed, opts)
    try:
        fn(ctx)
    finally:
        if own_eval:
            evaluator.close()
        if own_store:
            rs.close()
    arch, acc = qb.best()
    notes = list(proxy_run.notes)
    notes += [f"oracle failed on {a}: {e}" for a, e in list(qb.errors.items())[:5]]
    if arch is None:
        notes.append("no oracle answer was usable; nothing was found")
    ev = proxy_run.seen.get(arch) if arch else None
    proxy_cpu = sum(e.cpu_s or 0.0 for e in proxy_run.history)
    result = S.SearchResult(
        arch=arch, score=ev.score if ev else None, scores=dict(ev.scores) if ev else {},
        params=int(sp.params(arch)) if arch else None, macs=int(sp.macs(arch)) if arch else None,
        evaluated=len(proxy_run.history), scored=sum(not e.cached for e in proxy_run.history),
        rejected=proxy_run.rejected, dead=sum(S._is_dead(sp, e.encoding) for e in proxy_run.history),
        seconds=time.perf_counter() - t0, cpu_seconds=S._cpu_time() - c0, settings=settings,
        history=proxy_run.history, notes=notes)
    result.extra.update({"oracle_accuracy": acc, **{k: v for k, v in qb.record().items() if k != "oracle"},
                         "proxy_cpu_seconds": round(proxy_cpu, 3),
                         "queried": [[a, v] for a, v in qb.answers.items()]})
    return result
