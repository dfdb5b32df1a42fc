"""What a hybrid algorithm works with: proxy evaluations (bounded by --budget), oracle queries (bounded by
--queries), the seeded random stream, and the features a predictor learns from."""
from __future__ import annotations

import math
import warnings
from typing import Sequence

import numpy as np

from onnxscore.errors import MissingExtraError
from onnxscore.oracles import QueryBudget
from onnxscore.searching import Evaluated, Evaluator, _Run


class HybridContext:
    """One hybrid search's state. `proxy` is the searching._Run of the proxy evaluations (its budget is
    --budget); `oracle` the QueryBudget (--queries). The pool is the seeded stream of distinct random
    architectures drawn for proxy scoring, in draw order (a finite space is drawn whole when the budget
    covers it), so the same seed gives the same pool whatever K is."""

    def __init__(self, space, proxy_run: _Run, oracle: QueryBudget, seed: int, options: dict | None = None):
        self.space, self.proxy, self.oracle = space, proxy_run, oracle
        self.rng = proxy_run.rng
        self.seed = int(seed)
        self.options = dict(options or {})
        self.notes = proxy_run.notes

    # ------------------------------------------------------------------ proxy side
    @property
    def queries(self) -> int:
        return self.oracle.limit

    def draw_pool(self, n: int) -> list[Evaluated]:
        """Draw and score up to n more distinct random architectures (proxy budget permitting)."""
        n = min(int(n), self.proxy.left)
        if n <= 0:
            return []
        order = self._whole_space()
        if order is not None:
            encs = []
            while order and len(encs) < n:
                e = order.pop()
                if e not in self.proxy.seen and self.proxy.allowed(e):
                    encs.append(e)
                elif e not in self.proxy.seen:
                    self.proxy.rejected += 1
        else:
            encs = self.proxy.draw(n)
        if len(encs) < n:
            self.proxy.starved("hybrid search (proxy pool)")
        return self.proxy.score(encs) if encs else []

    def score(self, encs: Sequence[str]) -> list[Evaluated]:
        """Proxy scores of encodings, new ones counted against --budget (seen ones are free)."""
        new = [e for e in dict.fromkeys(encs) if e not in self.proxy.seen]
        if len(new) > self.proxy.left:
            encs = [e for e in encs if e in self.proxy.seen] + new[: self.proxy.left]
        return self.proxy.score(encs) if encs else []

    def scored(self) -> list[Evaluated]:
        """Every proxy-scored candidate with a non-null score, in evaluation order."""
        return [ev for ev in self.proxy.history if ev.score is not None]

    def by_proxy(self, evs: Sequence[Evaluated]) -> list[Evaluated]:
        """Best proxy fitness first (ties keep evaluation order); nulls dropped."""
        return sorted([e for e in evs if e.score is not None], key=lambda e: -e.fitness)

    def _whole_space(self) -> list[str] | None:
        """A seeded random order of the whole space (popped from the end) when the proxy budget covers a
        finite space: drawing it by rejection would waste draws on repeats; None otherwise."""
        if getattr(self, "_order", False) is False:
            import itertools

            self._order = None
            try:
                members = list(itertools.islice(self.space.all(), self.proxy.budget + 1))
            except NotImplementedError:
                members = None
            if members is not None and len(members) <= self.proxy.budget:
                members = [self.space.to_str(m) for m in members]
                self._order = [members[i] for i in self.rng.permutation(len(members))][::-1]
        return self._order

    # ------------------------------------------------------------------ oracle side
    def ask(self, enc: str) -> float | None:
        return self.oracle.ask(enc)

    @property
    def left(self) -> int:
        return self.oracle.left

    def answered(self) -> dict[str, float | None]:
        return self.oracle.answers

    def oracle_run(self) -> _Run:
        """A searching._Run whose evaluator is the oracle and whose budget is --queries (the baselines)."""
        p = self.proxy
        return _Run(self.space, OracleEvaluator(self.oracle), self.oracle.limit, self.rng, p.max_params,
                    p.max_macs)

    # ------------------------------------------------------------------ predictor features
    def features(self, encs: Sequence[str]) -> np.ndarray:
        """Rows of [space.features(enc), percentile rank of each scored proxy among the scored pool].

        Ranks (in (0, 1], 1 = best by the proxy's direction; a null is 0) make every proxy's scale and
        direction alike, so one predictor can weigh the members of an ensemble."""
        from onnxscore.proxies import registry

        evs = [self.proxy.seen[e] for e in encs]
        names = sorted({k for ev in self.proxy.history for k in ev.scores})
        cols = []
        for name in names:
            sign = 1.0 if registry.higher_is_better(name) else -1.0
            pool = np.array([_num(ev.scores.get(name)) for ev in self.proxy.history]) * sign
            pool = np.sort(pool[np.isfinite(pool)])
            mine = np.array([_num(ev.scores.get(name)) for ev in evs]) * sign
            col = np.searchsorted(pool, mine, side="right") / max(1, len(pool))
            col[~np.isfinite(mine)] = 0.0
            cols.append(col)
        ranks = np.array(cols, dtype=np.float64).T if cols else np.zeros((len(encs), 0))
        fn = getattr(self.space, "features", None)
        enc_feats = np.array([fn(e) for e in encs], dtype=np.float64) if callable(fn) else None
        if enc_feats is None or enc_feats.ndim != 2:
            return ranks
        return np.concatenate([enc_feats, ranks], axis=1)

    def predictor(self):
        """A fresh regressor (scikit-learn), seeded by the search seed: a random forest of 100 trees, or with
        options["predictor"] = "gp" a Gaussian process (Matern 5/2 + white noise; its posterior mean is used)."""
        kind = self.options.get("predictor", "rf")
        try:
            if kind == "gp":
                from sklearn.gaussian_process import GaussianProcessRegressor
                from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

                return GaussianProcessRegressor(ConstantKernel() * Matern(nu=2.5) + WhiteKernel(), normalize_y=True,
                                                random_state=self.seed)
            from sklearn.ensemble import RandomForestRegressor
        except ImportError:
            raise MissingExtraError("scikit-learn", "hybrid") from None
        if kind != "rf":
            from onnxscore.errors import InputError

            raise InputError(f"unknown predictor {kind!r}; use rf or gp")
        return RandomForestRegressor(n_estimators=int(self.options.get("trees", 100)), random_state=self.seed)

    def predict_best(self, candidates: Sequence[str]) -> str:
        """The candidate the predictor, trained on every non-null oracle answer so far, rates highest
        (ties go to the earliest candidate, so pass them best-proxy first)."""
        known = [(a, v) for a, v in self.oracle.answers.items() if v is not None and a in self.proxy.seen]
        if len(known) < 2:
            return candidates[0]
        X = self.features([a for a, _ in known])
        y = np.array([v for _, v in known])
        with warnings.catch_warnings():  # a GP's kernel hitting a bound on few points is expected, not news
            warnings.simplefilter("ignore", category=UserWarning)
            model = self.predictor().fit(X, y)
        pred = model.predict(self.features(candidates))
        return candidates[int(np.argmax(pred))]


class OracleEvaluator(Evaluator):
    """Evaluates encodings by asking the oracle (one query each)."""

    name = "oracle"

    def __init__(self, budget: QueryBudget):
        self.budget = budget

    def __call__(self, space, encodings):
        return [Evaluated(e, v, {"oracle": v}, cached=True) for e in encodings
                for v in [self.budget.ask(e)]]


def _num(v) -> float:
    try:
        return float(v) if v is not None else math.nan
    except (TypeError, ValueError):
        return math.nan
