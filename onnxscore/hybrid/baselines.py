"""The oracle baselines: random search and regularised evolution spending the K queries directly.

They see no proxy: a query is their only evaluation, so at the same K they measure what the proxies add.
Their loops are searching.random_search and searching.regularized_evolution with the oracle as objective.
"""
from __future__ import annotations

from onnxscore.hybrid import register_algorithm
from onnxscore.searching import POPULATION, TOURNAMENT, random_search, regularized_evolution


@register_algorithm("random", "random search on the oracle: K distinct random architectures, the best answer wins")
def oracle_random(ctx) -> None:
    random_search(ctx.oracle_run())


@register_algorithm("evolution", f"regularised evolution (population {POPULATION}, tournament {TOURNAMENT}) on "
                                 "the oracle's answers, K queries")
def oracle_evolution(ctx) -> None:
    regularized_evolution(ctx.oracle_run(), int(ctx.options.get("population", POPULATION)),
                          int(ctx.options.get("tournament", TOURNAMENT)))
