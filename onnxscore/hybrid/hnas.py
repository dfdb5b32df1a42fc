"""hnas: HNAS's search (Shu et al., NeurIPS 2022; shuyao95/HNAS nasbench/nasbench2_search.py).

Bayesian optimisation (bayes_opt, expected improvement with xi = 0, as the authors' `acq='ei'`) over the two
hyper-parameters of the training-free objective: a target level t in [0, 1] of the metric and a weight
exponent c in [-4, 0] (mu = 10^c). Each BO evaluation grows the pool by --budget / K new random architectures,
picks the unqueried pool member minimising

    mu * |m^2 - t^2| + cond / (m + 1e-6)

queries the oracle on it and returns the answer to the optimiser. The first min(int(K/4), 10) evaluations
probe t = linspace(0, 1) at c = -2, as the authors' code does; the result is the queried architecture with the
best answer.

Generalised from the authors' (metric = ntk_trace, cond = the NTK condition number, precomputed for all of
NB201) to any proxy: m is the guiding proxy's score turned so that higher is better and shifted to be >= 0,
divided by its maximum over the pool (the authors multiply t by a fixed scale of 5e3 fitted to their
ntk_trace values instead); cond is the --hnas-cond proxy (ntk_cond in the paper) divided by its maximum over
the pool, or 0 when none is given, which leaves a one-dimensional search for the best target level.
"""
from __future__ import annotations

import math

import numpy as np

from onnxscore.errors import InputError, MissingExtraError
from onnxscore.hybrid import register_algorithm

INIT_PORTION = 0.25  # args.init_portion
MAX_INIT = 10  # init_points = min(int(total_iters * init_portion), 10)
PBOUNDS = {"target_metric": (0.0, 1.0), "target_coeff": (-4.0, 0.0)}


def _bo(seed: int):
    try:
        from bayes_opt import BayesianOptimization, acquisition
    except ImportError:
        raise MissingExtraError("bayesian-optimization", "hybrid") from None
    return BayesianOptimization(f=None, pbounds=PBOUNDS, acquisition_function=acquisition.ExpectedImprovement(xi=0.0),
                                random_state=int(seed), verbose=0, allow_duplicate_points=True)


def _normalised(vals: np.ndarray) -> np.ndarray:
    vals = vals - min(0.0, float(vals.min()))
    top = float(vals.max())
    return vals / top if top > 0 else vals


@register_algorithm("hnas", "HNAS: Bayesian optimisation of the training-free objective's target level and "
                            "weight on the oracle's answers (shuyao95/HNAS)", needs=("bayes_opt",))
def hnas(ctx) -> None:
    k = ctx.queries
    cond = ctx.options.get("cond")
    if cond and cond not in ctx.proxy.evaluate.proxies:
        raise InputError(f"--hnas-cond {cond!r} must be scored too: add it to --score-also")
    per_iter = max(1, math.ceil(ctx.proxy.budget / k))
    opt = _bo(ctx.seed)

    def evaluate(target_metric: float, target_coeff: float) -> float | None:
        ctx.draw_pool(per_iter)
        pool = [ev for ev in ctx.scored() if ev.encoding not in ctx.answered()
                and (not cond or _finite(ev.scores.get(cond)))]
        if not pool:
            return None
        m = _normalised(np.array([ev.fitness for ev in pool], dtype=np.float64))
        c = np.zeros_like(m)
        if cond:
            c = np.array([float(ev.scores[cond]) for ev in pool])
            c = c / c.max() if c.max() > 0 else c
        score = 10.0 ** target_coeff * np.abs(m ** 2 - target_metric ** 2) + c / (m + 1e-6)
        return ctx.ask(pool[int(np.argmin(score))].encoding)

    n_init = min(int(k * INIT_PORTION), MAX_INIT)
    points = [{"target_metric": float(t), "target_coeff": -2.0} for t in np.linspace(0, 1, n_init)]
    while ctx.left > 0:
        params = points.pop(0) if points else opt.suggest()
        params = {key: float(v) for key, v in params.items()}
        v = evaluate(**params)
        if v is None and not [ev for ev in ctx.scored() if ev.encoding not in ctx.answered()]:
            ctx.notes.append("hnas: the pool has no unqueried architecture with a score; stopped early")
            break
        opt.register(params=params, target=0.0 if v is None else float(v))


def _finite(v) -> bool:
    try:
        return v is not None and math.isfinite(float(v))
    except (TypeError, ValueError):
        return False
