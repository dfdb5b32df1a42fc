"""Training-free architecture search: random search and regularised evolution over any SearchSpace,
guided by a proxy scored through the ranking engine (so candidates already in the store are free).

Budget = number of distinct architectures whose score a search asks for (fresh or from the store).
Candidates over --max-params/--max-macs are rejected from the space's closed-form counts before
scoring and do not consume budget; dead architectures (space.is_dead) score null without a forward;
a null score never wins.
"""

from __future__ import annotations

import math
import os
import resource
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from onnxscore.datasets import PROTOCOL_SEED as DEFAULT_BATCH_SEED
from onnxscore.engine import space_candidate  # noqa: F401  (re-exported: the key searches share)
from onnxscore.errors import InputError
from onnxscore.isolate import DEFAULT_TIMEOUT_S

ALGOS = ("random", "evolution")
BASELINES = {
    "params": "parameter count from the space's closed form (higher is better), no forward pass",
    "random": ("random choice: each candidate gets an i.i.d. U(0,1) key from the search seed, so the "
               "'best' is a uniformly random pick among the evaluated, non-dead candidates"),
}
POPULATION = 10  # NATS-Bench regularized_ea defaults (ea_population 10, ea_sample_size 3)
TOURNAMENT = 3
MUTATION_RETRIES = 10  # tries to mutate a parent into a child not seen before (then a seen child, free)


# ============================================================================ records


@dataclass
class Evaluated:
    """One distinct candidate of a search: its score (None = null) and where the score came from."""

    encoding: str
    score: float | None
    scores: dict = field(default_factory=dict)  # every proxy the evaluator computed for it
    cached: bool = False  # score came from the store (or needed no forward: dead, params, random)
    cpu_s: float | None = None  # CPU seconds spent scoring it now (share of its batch); None when cached
    wall_s: float | None = None  # wall time of its scoring task as recorded in the store (info.elapsed_s)
    error: str | None = None
    higher_is_better: bool = True  # the guiding proxy's direction (ntk_cond: lower is better)

    @property
    def fitness(self) -> float:
        """What the search maximises: the score turned so that higher is better; -inf for a null."""
        if self.score is None:
            return -math.inf
        return self.score if self.higher_is_better else -self.score


@dataclass
class SearchResult:
    """What a search found, with its counters and every setting needed to reproduce it."""

    arch: str | None
    score: float | None
    scores: dict
    params: int | None
    macs: int | None
    evaluated: int  # distinct candidates scored or read from the store (<= budget)
    scored: int  # of which newly scored in this search
    rejected: int  # draws over --max-params/--max-macs (not scored, not counted)
    dead: int  # candidates with no input-output path (null without a forward)
    seconds: float  # wall time
    cpu_seconds: float  # CPU time of this process and its finished child processes
    settings: dict
    history: list[Evaluated] = field(default_factory=list)
    onnx: str | None = None
    notes: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)  # e.g. test_accuracy from a benchmark table

    @property
    def cached(self) -> int:
        return self.evaluated - self.scored

    def to_dict(self) -> dict:
        """The `--json` object: arch, score, params, macs, onnx, evaluated, seconds, settings (+ counters)."""
        d = {"arch": self.arch, "score": self.score, "params": self.params, "macs": self.macs,
             "onnx": self.onnx, "evaluated": self.evaluated, "seconds": round(self.seconds, 3),
             "settings": self.settings, "scores": self.scores, "scored": self.scored, "cached": self.cached,
             "rejected": self.rejected, "dead": self.dead, "cpu_seconds": round(self.cpu_seconds, 3)}
        d.update(self.extra)
        if self.notes:
            d["notes"] = list(self.notes)
        return d


# ============================================================================ evaluators


def _is_dead(space, enc) -> bool:
    fn = getattr(space, "is_dead", None)
    return bool(fn(enc)) if callable(fn) else False


class Evaluator:
    """Scores a list of encodings (one call may score many at once); higher is better, None = null."""

    name = "objective"
    proxies: tuple[str, ...] = ()

    def __call__(self, space, encodings: Sequence[str]) -> list[Evaluated]:
        raise NotImplementedError

    def settings(self) -> dict:
        return {}

    def close(self) -> None:
        pass


class FunctionEvaluator(Evaluator):
    """Any callable encoding -> float|None (a user objective, a lookup table, a test function)."""

    def __init__(self, fn: Callable[[str], float | None], name: str = "objective"):
        self.fn, self.name = fn, name

    def __call__(self, space, encodings):
        out = []
        for e in encodings:
            v = None if _is_dead(space, e) else self.fn(e)
            v = float(v) if v is not None and math.isfinite(float(v)) else None
            out.append(Evaluated(e, v, {self.name: v}, cached=True))
        return out


class ParamsEvaluator(Evaluator):
    """The parameter-count baseline: space.params(encoding), no build, no forward."""

    name = "params"

    def __call__(self, space, encodings):
        out = []
        for e in encodings:
            v = None if _is_dead(space, e) else float(space.params(e))
            out.append(Evaluated(e, v, {"params": v}, cached=True))
        return out

    def settings(self) -> dict:
        return {"baseline": BASELINES["params"]}


class RandomEvaluator(Evaluator):
    """Random choice: i.i.d. U(0,1) keys from the search seed (a stream separate from the sampling one)."""

    name = "random"

    def __init__(self, seed: int):
        self.rng = np.random.default_rng([int(seed), 0x5EED])

    def __call__(self, space, encodings):
        out = []
        for e in encodings:
            key = float(self.rng.random())  # drawn for every candidate, so the stream does not depend on deadness
            v = None if _is_dead(space, e) else key
            out.append(Evaluated(e, v, {"random": v}, cached=True))
        return out

    def settings(self) -> dict:
        return {"baseline": BASELINES["random"]}


def worker_spec(space_name: str) -> str | None:
    """What a worker process must import to know the space: None for a built-in (registered at import),
    else the module its factory was defined in, as a dotted name or a .py path (onnxscore.modules). A space
    defined where no other process can import it (a script's __main__, a notebook) is refused."""
    import importlib.util

    from onnxscore.spaces import _REGISTRY

    factory = _REGISTRY.get(str(space_name).lower())
    mod_name = getattr(factory, "__module__", "") or ""
    if factory is None or mod_name.startswith("onnxscore."):
        return None
    path = getattr(sys.modules.get(mod_name), "__file__", None)
    if mod_name.startswith("onnxscore_user_") and path:  # imported from a file by onnxscore.modules
        return path
    if mod_name != "__main__":
        try:
            if importlib.util.find_spec(mod_name) is not None:
                return mod_name
        except (ImportError, ValueError):
            pass
    raise InputError(f"worker processes cannot import the space {space_name!r} (defined in {mod_name or '?'}); "
                     "define it in a module and pass it (--space-module, or modules=[...]), or use --workers 0")


class ProxyEvaluator(Evaluator):
    """Scores space members with a proxy through onnxscore.engine (build, score, cache in the SQLite store).

    `score_also` proxies are computed for every new candidate too (one forward serves them all), so later
    searches guided by them find those candidates in the store.
    """

    def __init__(self, space_name: str, space, space_kwargs: dict, proxy: str, *, score_also: Sequence[str] = (),
                 scorer: dict | None = None, store=None, build_seed: int = 0, workers: int = 0, threads: int = 1,
                 timeout_s: float | None = DEFAULT_TIMEOUT_S, modules: Sequence[str] = ()):
        from onnxscore.proxies import registry
        from onnxscore.engine import RankSettings
        from onnxscore.store import DEFAULT_STORE, ResultStore

        self.name = registry.get(proxy).name
        self.higher_is_better = registry.get(proxy).higher_is_better
        # an ensemble guides by its value within every candidate evaluated so far (updated in place as
        # the set grows); its members are what each candidate is scored with
        self.ensemble = registry.is_ensemble(self.name)
        self._ranked: list[Evaluated] = []
        self.proxies = tuple(registry.computed(list(dict.fromkeys(
            [self.name, *registry.parse(list(score_also) or [self.name])]))))
        self.space_name, self.space, self.space_kwargs = space_name, space, dict(space_kwargs)
        self.build_seed, self.workers, self.timeout_s = int(build_seed), int(workers), timeout_s
        if self.workers and not modules:
            spec = worker_spec(space_name)
            modules = (spec,) if spec else ()
        self.rank_settings = RankSettings(proxies=self.proxies, scorer=dict(scorer or {}), threads=threads,
                                          modules=tuple(modules))
        self._own_store = not isinstance(store, ResultStore)
        self.store = ResultStore(store or DEFAULT_STORE) if self._own_store else store
        self.score_key = self.rank_settings.score_key()
        self._executor = None  # opened at the first candidate, held until close(): one pool per search

    def __call__(self, space, encodings):
        from onnxscore.engine import rank

        out: dict[str, Evaluated] = {}
        todo = []
        for e in encodings:
            if _is_dead(space, e):
                out[e] = Evaluated(e, None, {p: None for p in self.proxies}, cached=True,
                                   error="dead architecture: no path from the cell input to its output")
            else:
                todo.append(e)
        if todo:
            cands = [space_candidate(self.space_name, self.space, self.space_kwargs, e, self.build_seed) for e in todo]
            fresh = {c.key for c in cands if self.store.missing_proxies(c.key, self.score_key, self.proxies)}
            c0 = _cpu_time()
            res = rank(cands, self.rank_settings, store=self.store, progress=False, executor=self._open())
            cpu_each = (_cpu_time() - c0) / len(fresh) if fresh else None
            rows = {r["key"]: r for r in res.rows}
            for e, c in zip(todo, cands):
                r = rows[c.key]
                stored = self.store.get_scores(c.key, self.score_key, [self.name]).get(self.name) or {}
                info = stored.get("info") or {}
                out[e] = Evaluated(e, r.get(self.name), {p: r.get(p) for p in self.proxies},
                                   cached=c.key not in fresh, cpu_s=cpu_each if c.key in fresh else None,
                                   wall_s=info.get("elapsed_s"), error=r.get("error"),
                                   higher_is_better=self.higher_is_better)
            if self.ensemble:
                self._rerank([out[e] for e in todo])
        return [out[e] for e in encodings]

    def _rerank(self, new: list[Evaluated]) -> None:
        """The ensemble's value of every candidate evaluated so far, relative to all of them."""
        from onnxscore.proxies import ensemble

        self._ranked.extend(new)  # each call's candidates are new Evaluated objects
        ensemble.add_to_rows([self.name], self._ranked, get=lambda ev, p: ev.scores.get(p),
                             put=lambda ev, p, v: (setattr(ev, "score", v), ev.scores.__setitem__(p, v)))

    def settings(self) -> dict:
        from onnxscore.settings import ScoreSettings

        out = {"scorer": ScoreSettings.of(self.rank_settings.scorer).record(), "scored_proxies": list(self.proxies),
               "build_seed": self.build_seed, "store": self.store.path}
        if self.ensemble:
            from onnxscore.proxies import ensemble

            out["ensemble"] = {**ensemble.describe(self.name),
                               "relative_to": "every candidate the search has evaluated so far"}
        return out

    def _open(self):
        """The executor every candidate of this search runs on (workers start once, not per candidate)."""
        if self._executor is None:
            from onnxscore.engine import open_executor

            self._executor = open_executor(self.rank_settings, workers=self.workers,
                                           timeout_s=self.timeout_s).__enter__()
        return self._executor

    def close(self) -> None:
        if self._executor is not None:
            self._executor.close()
            self._executor = None
        if self._own_store:
            self.store.close()


# ============================================================================ algorithms


class _Run:
    """Book-keeping shared by the algorithms: distinct evaluations, budget, constraints, loop guard."""

    def __init__(self, space, evaluate: Evaluator, budget: int, rng: np.random.Generator,
                 max_params=None, max_macs=None, on_step: Callable | None = None):
        if int(budget) < 1:
            raise InputError(f"--budget must be at least 1 (got {budget})")
        self.space, self.evaluate, self.budget, self.rng = space, evaluate, int(budget), rng
        self.max_params, self.max_macs = max_params, max_macs
        self.seen: dict[str, Evaluated] = {}
        self.history: list[Evaluated] = []
        self.rejected = 0
        self.draws = 0
        self.max_draws = max(10_000, 200 * self.budget)  # guard: constraints or a small space can starve a search
        self.on_step = on_step
        self.notes: list[str] = []

    @property
    def left(self) -> int:
        return self.budget - len(self.history)

    def allowed(self, enc: str) -> bool:
        """Within --max-params/--max-macs (closed-form counts, nothing built)."""
        if self.max_params is not None and self.space.params(enc) > self.max_params:
            return False
        if self.max_macs is not None and self.space.macs(enc) > self.max_macs:
            return False
        return True

    def exhausted(self) -> bool:
        return self.draws >= self.max_draws

    def draw(self, n: int) -> list[str]:
        """Up to n new distinct encodings within the constraints, in draw order."""
        out: list[str] = []
        while len(out) < n and not self.exhausted():
            self.draws += 1
            enc = self.space.to_str(self.space.sample(self.rng))
            if enc in self.seen or enc in out:
                continue
            if not self.allowed(enc):
                self.rejected += 1
                continue
            out.append(enc)
        return out

    def score(self, encs: Sequence[str]) -> list[Evaluated]:
        """Evaluate new encodings (counted against the budget); seen ones are returned from memory."""
        new = [e for e in dict.fromkeys(encs) if e not in self.seen]
        if len(new) > self.left:
            raise AssertionError("search tried to exceed its budget")  # a bug of ours, never user input
        if new:
            for ev in self.evaluate(self.space, new):
                self.seen[ev.encoding] = ev
                self.history.append(ev)
                if self.on_step:
                    self.on_step(len(self.history), self.budget, ev, self.best())
        return [self.seen[e] for e in encs]

    def best(self) -> Evaluated | None:
        """Highest non-null score; ties go to the earliest evaluated."""
        best = None
        for ev in self.history:
            if ev.score is not None and (best is None or ev.fitness > best.fitness):
                best = ev
        return best

    def starved(self, what: str) -> None:
        self.notes.append(f"{what}: stopped after {self.draws} draws with {len(self.history)} of {self.budget} "
                          f"candidates ({self.rejected} rejected by the size limits); the space or its "
                          "constrained part is smaller than the budget")


def _key(ev: Evaluated) -> float:
    return ev.fitness


def random_search(run: _Run, batch: int | None = None) -> None:
    """Sample distinct candidates (within the size limits) until the budget is spent; best score wins."""
    batch = batch or run.budget
    while run.left > 0:
        encs = run.draw(min(batch, run.left))
        if encs:
            run.score(encs)
        if len(encs) < min(batch, run.left) or not encs:
            if run.left > 0:
                run.starved("random search")
            break


def regularized_evolution(run: _Run, population: int = POPULATION, tournament: int = TOURNAMENT) -> None:
    """Regularised evolution (Real et al., AAAI 2019): a population of `population`; each cycle picks the best of
    `tournament` random members, mutates one choice, adds the child and removes the oldest member (ageing).

    The initial population is scored as one batch. A child is re-drawn (up to MUTATION_RETRIES mutations of the
    same parent) if it was already evaluated in this search or breaks the size limits; a child seen before joins
    the population at no cost and does not count against the budget.
    """
    if population < 1 or tournament < 1:
        raise InputError("--population and --tournament must be at least 1")
    tournament = min(tournament, population)
    pop: deque[Evaluated] = deque()
    init = run.draw(min(population, run.left))
    if len(init) < min(population, run.left):
        run.starved("evolution (initial population)")
    pop.extend(run.score(init))
    if not pop:
        return
    max_cycles = 50 * run.budget + 1000
    cycles = 0
    while run.left > 0 and cycles < max_cycles:
        cycles += 1
        idx = run.rng.choice(len(pop), size=min(tournament, len(pop)), replace=False)
        parent = max((pop[int(i)] for i in idx), key=_key)  # max keeps the first of equal keys
        child = seen_child = None
        for _ in range(MUTATION_RETRIES):
            enc = run.space.to_str(run.space.mutate(parent.encoding, run.rng))
            if not run.allowed(enc):
                run.rejected += 1
                continue
            if enc in run.seen:
                seen_child = seen_child or enc
                continue
            child = enc
            break
        if child is None and seen_child is None:  # every mutation broke the size limits: a fresh valid draw
            fresh = run.draw(1)
            if not fresh:
                run.starved("evolution")
                break
            child = fresh[0]
        pop.append(run.score([child or seen_child])[0])
        if len(pop) > population:
            pop.popleft()
    if run.left > 0 and cycles >= max_cycles:
        run.notes.append(f"evolution: stopped after {cycles} cycles with {len(run.history)} of {run.budget} "
                         "candidates (mutations kept returning architectures already evaluated)")


# ============================================================================ front door


def resolve_space(space, space_kwargs: dict | None):
    """(registry name, instance, kwargs) from a registered name or a SearchSpace instance."""
    from onnxscore.spaces import get_space
    from onnxscore.spaces.base import SearchSpace

    kwargs = dict(space_kwargs or {})
    if isinstance(space, SearchSpace):
        return space.name, space, kwargs
    inst = get_space(space, **kwargs)
    if "dataset" in kwargs and hasattr(inst, "dataset"):
        kwargs["dataset"] = inst.dataset  # canonical name: the store key must not depend on an alias
    return str(space).lower(), inst, kwargs


def make_evaluator(space_name: str, space, space_kwargs: dict, proxy: str, seed: int, **kw) -> Evaluator:
    """The evaluator behind --proxy: a registered proxy (through the store), 'params' or 'random'."""
    p = str(proxy).strip().lower()
    if p == "params":
        return ParamsEvaluator()
    if p == "random":
        return RandomEvaluator(seed)
    if "," in p or p == "all":
        raise InputError(f"--proxy takes one proxy to search with (got {proxy!r}); use --score-also for the others")
    return ProxyEvaluator(space_name, space, space_kwargs, p, **kw)


def _cpu_time() -> float:
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def check_output(path: str | os.PathLike | None, force: bool, *, store=None, data=None) -> None:
    """Refuse, before the search, an output file that exists (unless force: users' files are never
    overwritten without asking), that is the store or the --data batch (never, even with force), or
    whose folder is missing or not writable (onnxscore.outputs.check_outputs)."""
    from onnxscore.outputs import check_outputs, run_inputs
    from onnxscore.store import DEFAULT_STORE

    if path is None:
        return
    store_path = getattr(store, "path", store) or DEFAULT_STORE
    files = {data: "the --data batch"} if isinstance(data, (str, os.PathLike)) else None
    check_outputs({"--output": path}, force=force, inputs=run_inputs(store=store_path, files=files))


def write_onnx(space, result: SearchResult, path: str | os.PathLike, build_seed: int, force: bool = False) -> str:
    """Build the found architecture with the search's weights seed and write it atomically (temp file +
    rename: a full disk leaves an existing file as it was); without force an existing file is refused."""
    from onnxscore.outputs import write_bytes

    model = space.build(result.arch, seed=build_seed)
    model.ir_version = 10
    for k, v in (("onnxscore.search.arch", result.arch), ("onnxscore.search.score", repr(result.score)),
                 ("onnxscore.search.settings", _json(result.settings))):
        model.metadata_props.add(key=k, value=str(v))
    return write_bytes(path, model.SerializeToString(), force=force)


def _json(obj) -> str:
    import json

    return json.dumps(obj, sort_keys=True, default=str)


def proxy_evaluator(space_name: str, sp, space_kwargs: dict, proxy: str, seed: int, *, score_also=(),
                    scorer: dict | None = None, store=None, build_seed: int = 0, workers: int = 0, threads: int = 1,
                    timeout_s: float | None = DEFAULT_TIMEOUT_S, modules: Sequence[str] = (),
                    batch_source: str = "auto", batch_seed: int = DEFAULT_BATCH_SEED, describe: bool = False):
    """The evaluator behind --proxy, scoring on the batch the CLI and evaluate use (the space's own; NB201:
    the protocol's CIFAR-10 images, with their labels for gradient proxies). With describe, also returns a
    description of that batch (None for a baseline or the seeded random batch)."""
    scorer = dict(scorer or {})
    batch_desc = None
    if str(proxy).strip().lower() not in BASELINES and scorer.get("data") is None:
        scorer["data"], batch_desc = default_batch(sp, batch_source, store, int(scorer.get("batch_size", 128)),
                                                   batch_seed)
        if scorer["data"] is not None and scorer.get("labels") is None and _wants_labels(proxy, score_also):
            from onnxscore.evaluation import image_labels

            scorer["labels"] = image_labels(Path(scorer["data"]).parent, int(scorer.get("batch_size", 128)),
                                            batch_seed)
    elif scorer.get("data") is not None:
        batch_desc = f"user data {scorer['data']}"
    ev = make_evaluator(space_name, sp, space_kwargs, proxy, seed, score_also=score_also, scorer=scorer,
                        store=store, build_seed=build_seed, workers=workers, threads=threads, timeout_s=timeout_s,
                        modules=modules)
    return (ev, batch_desc) if describe else ev


def search(space: Any = "nb201", *, algo: str = "evolution", proxy: str = "epads", budget: int = 100,
           seed: int = 0, space_kwargs: dict | None = None, objective: Callable | None = None,
           score_also: Sequence[str] = (), max_params: int | str | None = None, max_macs: int | str | None = None,
           population: int = POPULATION,
           tournament: int = TOURNAMENT, store: str | os.PathLike | Any | None = None, scorer: dict | None = None, build_seed: int = 0,
           workers: int = 0, threads: int = 1, timeout_s: float | None = DEFAULT_TIMEOUT_S,
           output: str | os.PathLike | None = None, force: bool = False, modules: Sequence[str] = (),
           batch_source: str = "auto", batch_seed: int = DEFAULT_BATCH_SEED,
           evaluator: Evaluator | None = None, on_step: Callable | None = None, oracle: Any = None,
           train_cmd: str | None = None, queries: int = 20, hybrid_options: dict | None = None,
           train_timeout_s: float | None = None, table: Any = None) -> SearchResult:
    """Search `space` for the architecture with the best proxy score within `budget` distinct candidates.

    space: a registered name ("nb201", "toy", "mobilenet-like", your own) or a SearchSpace instance.
    proxy: any registered proxy (scored through the store), params, random; or pass `objective`
    (encoding -> float) to search any function. Writes the best architecture to `output` if given.
    With `oracle` ("nb201", an Oracle, a callable arch -> accuracy) or `train_cmd`, the search is hybrid
    (onnxscore.hybrid): `queries` oracle answers at most, `budget` proxy evaluations, algo shortlist | hnas |
    prenas | random | evolution (the last two spend the queries directly, without the proxy).
    """
    from onnxscore.edge.pareto import parse_count

    check_output(output, force, store=store, data=(scorer or {}).get("data"))
    if oracle is not None or train_cmd is not None:
        from onnxscore.hybrid.run import hybrid_search

        opts = dict(hybrid_options or {})
        if algo == "evolution":
            opts.setdefault("population", population)
            opts.setdefault("tournament", tournament)
        res = hybrid_search(space, algo=algo, proxy=proxy, budget=budget, queries=queries, oracle=oracle,
                            train_cmd=train_cmd, seed=seed, space_kwargs=space_kwargs, score_also=score_also,
                            max_params=max_params, max_macs=max_macs, store=store, scorer=scorer,
                            build_seed=build_seed, workers=workers, threads=threads, timeout_s=timeout_s,
                            train_timeout_s=train_timeout_s, modules=modules, batch_source=batch_source,
                            batch_seed=batch_seed, options=opts, table=table, evaluator=evaluator, on_step=on_step)
        if output is not None and res.arch is not None:
            res.onnx = write_onnx(resolve_space(space, space_kwargs)[1], res, output, build_seed, force)
        return res
    if algo not in ALGOS:
        from onnxscore.hybrid import algorithms

        if algo in algorithms():
            raise InputError(f"--algo {algo} spends oracle queries: give --oracle nb201 or --train-cmd "
                             "\"CMD {onnx} {arch}\" (and --queries K)")
        raise InputError(f"unknown --algo {algo!r}; use random or evolution (or, with an oracle, "
                         f"{', '.join(algorithms())})")
    name, sp, kwargs = resolve_space(space, space_kwargs)
    if (not isinstance(space, str) and evaluator is None and objective is None
            and str(proxy).strip().lower() not in BASELINES):
        raise InputError("scoring with a proxy goes through the ranking engine, which rebuilds candidates by name: "
                         "register the space (@register_space) and pass its name and space_kwargs")
    max_params, max_macs = parse_count(max_params), parse_count(max_macs)
    own_eval = evaluator is None
    batch_desc = None
    if evaluator is None:
        if objective is not None:
            evaluator = FunctionEvaluator(objective)
        else:
            evaluator, batch_desc = proxy_evaluator(
                name, sp, kwargs, proxy, seed, score_also=score_also, scorer=scorer, store=store,
                build_seed=build_seed, workers=workers, threads=threads, timeout_s=timeout_s, modules=modules,
                batch_source=batch_source, batch_seed=batch_seed, describe=True)
    settings = {"space": name, "space_kwargs": kwargs, "algo": algo, "proxy": evaluator.name, "budget": int(budget),
                "seed": int(seed), "max_params": max_params, "max_macs": max_macs,
                "budget_rule": "distinct candidates evaluated (store hits count, rejected draws do not)"}
    if algo == "evolution":
        settings.update(population=int(population), tournament=int(tournament))
    settings.update(evaluator.settings())
    if batch_desc:
        settings["batch"] = batch_desc
    t0, c0 = time.perf_counter(), _cpu_time()
    run = _Run(sp, evaluator, budget, np.random.default_rng(int(seed)), max_params, max_macs, on_step)
    try:
        if algo == "random":
            random_search(run)
        else:
            regularized_evolution(run, population, tournament)
    finally:
        if own_eval:
            evaluator.close()
    best = run.best()
    notes = list(run.notes)
    if not run.history:
        raise InputError("no candidate met the size limits; relax --max-params/--max-macs")
    if best is None:
        notes.append("every candidate scored null (dead, failed or undefined); nothing was found")
    result = SearchResult(
        arch=best.encoding if best else None, score=best.score if best else None,
        scores=dict(best.scores) if best else {},
        params=int(sp.params(best.encoding)) if best else None, macs=int(sp.macs(best.encoding)) if best else None,
        evaluated=len(run.history), scored=sum(not e.cached for e in run.history), rejected=run.rejected,
        dead=sum(_is_dead(sp, e.encoding) for e in run.history), seconds=time.perf_counter() - t0,
        cpu_seconds=_cpu_time() - c0, settings=settings, history=run.history, notes=notes)
    if output is not None and best is not None:
        result.onnx = write_onnx(sp, result, output, build_seed, force)
    return result


def repeat_seeds(seed: int, repeat: int) -> list[int]:
    """Seeds of `--repeat R` independent searches: seed, seed+1, ..., seed+R-1."""
    if repeat < 1:
        raise InputError(f"--repeat must be at least 1 (got {repeat})")
    return [int(seed) + i for i in range(int(repeat))]


def mean_std(values: Sequence[float | None]) -> dict:
    """{"mean", "std" (sample std, ddof=1; 0 for one value), "n"} over the non-null values."""
    xs = [float(v) for v in values if v is not None]
    if not xs:
        return {"mean": None, "std": None, "n": 0}
    std = float(np.std(xs, ddof=1)) if len(xs) > 1 else 0.0
    return {"mean": float(np.mean(xs)), "std": std, "n": len(xs)}


def summarize(results: Sequence[SearchResult]) -> dict:
    """Mean and std of what R searches found (score, params, MACs, extra numbers such as test accuracy)."""
    out = {"repeats": len(results), "seeds": [r.settings.get("seed") for r in results],
           "score": mean_std([r.score for r in results]), "params": mean_std([r.params for r in results]),
           "macs": mean_std([r.macs for r in results]), "evaluated": mean_std([r.evaluated for r in results]),
           "seconds": mean_std([r.seconds for r in results]),
           "cpu_seconds": mean_std([r.cpu_seconds for r in results]),
           "distinct_archs": len({r.arch for r in results if r.arch})}
    oracles = sorted({str(r.settings["oracle"]) for r in results if r.settings.get("oracle")})
    if oracles:
        out["oracle"] = oracles[0] if len(oracles) == 1 else oracles
    keys = sorted({k for r in results for k, v in r.extra.items() if isinstance(v, (int, float))})
    for k in keys:
        out[k] = mean_std([r.extra.get(k) for r in results])
    return out


def benchmark_accuracy(space, arch: str | None, table=None) -> dict:
    """{"test_accuracy": x} for a member of a space with a Benchmark (its ground truth), {} otherwise."""
    bench = getattr(space, "benchmark", None)
    if arch is None or bench is None:
        return {}
    acc = bench.accuracy(arch, table)
    return {} if acc is None else {"test_accuracy": acc}


def input_side(sp) -> int | None:
    """Image side of the space's networks (from one built sample), or None when not a 3-channel square image."""
    m = sp.build(sp.sample(np.random.default_rng(0)), seed=0)
    dims = m.graph.input[0].type.tensor_type.shape.dim
    vals = [d.dim_value if d.HasField("dim_value") else None for d in dims]
    if len(vals) == 4 and vals[1] == 3 and vals[2] == vals[3] and vals[2]:
        return int(vals[2])
    return None


BATCH_SOURCES = ("auto", "cifar10", "random")


def _wants_labels(proxy: str, score_also: Sequence[str]) -> bool:
    """Whether a gradient proxy is among those scored (they take the batch's true labels)."""
    from onnxscore.proxies import registry

    return any(registry.is_gradient(registry.get(p).name) for p in [proxy, *score_also])


def default_batch(sp, source: str, store, batch_size: int, batch_seed: int) -> tuple[str | None, str | None]:
    """(data path or None, description) of the batch a search scores on: 'auto' is the space's Benchmark
    batch (NB201: the protocol's CIFAR-10 images, the same .npy as evaluate's, so the store is shared) or
    the seeded random-normal batch; 'cifar10' forces CIFAR-10 images; 'random' the random-normal batch."""
    from onnxscore.store import DEFAULT_STORE

    if source not in BATCH_SOURCES:
        raise InputError(f"unknown batch_source {source!r}; use {', '.join(BATCH_SOURCES)}")
    from onnxscore.evaluation import batch_cache_dir

    cache = batch_cache_dir(getattr(store, "path", store) or DEFAULT_STORE)
    bench = getattr(sp, "benchmark", None)
    if source == "random" or (source == "auto" and bench is None):
        return None, None
    if source == "auto":
        return bench.default_batch(cache, batch_size, batch_seed) or (None, None)
    side = input_side(sp)
    if side not in (32, 16):
        raise InputError(f"batch_source cifar10 needs 3x32x32 or 3x16x16 inputs; {sp.name or 'this space'}'s "
                         "networks take another shape (pass data=FILE.npy)")
    from onnxscore.evaluation import image_batch

    return image_batch(cache, batch_size, batch_seed, side)


def progress_printer(stream=None, interval: float = 5.0) -> Callable:
    """An on_step callback printing 'search: 37/100 evaluated, best 30.12' to stderr every `interval` s."""
    stream = stream or sys.stderr
    last = [0.0]

    def step(done: int, budget: int, ev: Evaluated, best: Evaluated | None) -> None:
        now = time.monotonic()
        if now - last[0] >= interval or done == budget:
            last[0] = now
            b = "-" if best is None else f"{best.score:.6g}"
            stream.write(f"search: {done}/{budget} evaluated, best {b}\n")
            stream.flush()

    return step


__all__ = ["ALGOS", "BASELINES", "Evaluated", "SearchResult", "Evaluator", "FunctionEvaluator", "ParamsEvaluator",
           "RandomEvaluator", "ProxyEvaluator", "space_candidate", "random_search", "regularized_evolution",
           "resolve_space", "search", "repeat_seeds", "mean_std", "summarize", "write_onnx", "check_output",
           "benchmark_accuracy", "default_batch", "proxy_evaluator", "input_side", "BATCH_SOURCES"]
