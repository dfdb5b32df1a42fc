"""shortlist (onnxscore's own): a proxy shortlist, then queries chosen by a predictor of the oracle.

1. Score the whole proxy budget (--budget distinct random architectures; a finite space whose size the
   budget covers is scored whole) with the guiding proxy and every --score-also proxy.
2. Keep the `shortlist` x K best by the guiding proxy (at least K).
3. Query the ceil(K / 4) best of the shortlist by the proxy (a zero-cost warm start).
4. Each further query goes to the unqueried shortlist member that a random forest, refit on every answer so
   far, predicts best. Its features are the space's encoding (NB201: one-hot operations) and the percentile
   ranks of every scored proxy, so it learns which proxies and which choices the oracle rewards.
The result is the queried architecture with the best oracle answer.

Why: a proxy ranks the space well at its coarse scale (NB201: params and ePADS Kendall ~0.6) but cannot
order the top few percent; a handful of oracle answers can, and a shortlist keeps the predictor where the
proxy is already confident instead of spending queries on exploration far from it.
"""
from __future__ import annotations

import math

from onnxscore.hybrid import register_algorithm

SHORTLIST = 2.5  # shortlist size in units of K
WARM = 0.25  # share of K queried in proxy order before the predictor takes over


@register_algorithm("shortlist", "onnxscore's own: top shortlist*K by the proxy, warm start in proxy order, "
                                 "then random-forest-predicted best (encoding + proxy ranks)", needs=("sklearn",))
def shortlist(ctx) -> None:
    k = ctx.queries
    factor = float(ctx.options.get("shortlist", SHORTLIST))
    warm = float(ctx.options.get("warm", WARM))
    ctx.draw_pool(ctx.proxy.budget)
    ranked = [ev.encoding for ev in ctx.by_proxy(ctx.scored())]
    short = ranked[: max(k, int(round(factor * k)))]
    if not short:
        ctx.notes.append("shortlist: every proxy score was null; nothing to query")
        return
    for enc in short[: min(len(short), max(1, math.ceil(warm * k)), ctx.left)]:
        ctx.ask(enc)
    while ctx.left > 0:
        todo = [e for e in short if e not in ctx.answered()]
        if not todo:
            ctx.notes.append(f"shortlist: all {len(short)} shortlisted architectures queried with "
                             f"{ctx.left} queries left")
            break
        ctx.ask(ctx.predict_best(todo))
