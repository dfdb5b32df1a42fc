"""prenas: predictor-assisted evolution (PRE-NAS, Peng et al., GECCO 2022), with the oracle as training.

Regularised evolution whose offspring are screened by a predictor before any is trained:
1. The initial population is `population` random architectures (default ceil(K / 4), at least 2), queried.
2. Each generation mutates tournament winners (tournament 3, by oracle answer) into `offspring` distinct
   unqueried children (default: the proxy budget left spread over the queries left), scores them with the
   proxy, and queries only the one a random forest (refit on every answer so far; features: the space's
   encoding and the percentile ranks of every scored proxy) predicts best.
3. The queried child joins the population and the oldest member leaves (ageing).
The result is the queried architecture with the best answer. PRE-NAS's weight inheritance has no
counterpart when the oracle is a table or an external training script, and is left out.
"""
from __future__ import annotations

import math
from collections import deque

from onnxscore.hybrid import register_algorithm

TOURNAMENT = 3
MUTATION_TRIES = 20  # mutations tried per wanted child before the generation settles for fewer


@register_algorithm("prenas", "PRE-NAS: regularised evolution whose mutated offspring are screened by a random "
                              "forest (encoding + proxy ranks); only its pick is queried", needs=("sklearn",))
def prenas(ctx) -> None:
    k = ctx.queries
    size = int(ctx.options.get("population") or max(2, math.ceil(k / 4)))
    size = min(size, k)
    pop: deque[str] = deque()
    for ev in ctx.draw_pool(size):
        ctx.ask(ev.encoding)
        pop.append(ev.encoding)
    if not pop:
        return
    answers = ctx.answered()

    def fitness(enc: str) -> float:
        v = answers.get(enc)
        return -math.inf if v is None else v

    while ctx.left > 0:
        n_child = ctx.options.get("offspring")
        if not n_child:
            n_child = max(1, ctx.proxy.left // max(1, ctx.left))
        n_child = max(1, min(int(n_child), 1000))
        children: list[str] = []
        for _ in range(MUTATION_TRIES * n_child):
            if len(children) >= n_child:
                break
            idx = ctx.rng.choice(len(pop), size=min(TOURNAMENT, len(pop)), replace=False)
            parent = max((pop[int(i)] for i in idx), key=fitness)
            child = ctx.space.to_str(ctx.space.mutate(parent, ctx.rng))
            if child in answers or child in children or not ctx.proxy.allowed(child):
                continue
            if child not in ctx.proxy.seen and ctx.proxy.left <= len([c for c in children
                                                                      if c not in ctx.proxy.seen]):
                continue  # no proxy budget left for another new child
            children.append(child)
        scored = ctx.by_proxy(ctx.score(children))
        if not scored:  # nothing new to screen: one fresh random architecture keeps the run going
            scored = ctx.by_proxy(ctx.draw_pool(1)) or [
                ev for ev in ctx.by_proxy(ctx.scored()) if ev.encoding not in answers][:1]
            if not scored:
                ctx.notes.append("prenas: no unqueried child or proxy budget left; stopped early")
                break
        pick = ctx.predict_best([ev.encoding for ev in scored])
        ctx.ask(pick)
        pop.append(pick)
        if len(pop) > size:
            pop.popleft()
