"""AZ-NAS's components (Lee & Ham, CVPR 2024) as proxies: expressivity, progressivity, trainability.

One forward and one backward run of the fresh network (onnxscore.proxies.fresh) give all three
(onnxscore.proxies.aznas); the fourth AZ-NAS component, complexity, is `flops`. An -inf of the authors'
(a block that passes its input through unchanged) is a null that ranks last, where -inf would."""
from __future__ import annotations

from onnxscore.errors import ProxyError
from onnxscore.proxies.fresh import on_fresh
from onnxscore.proxies.registry import register

def components(model, ctx):
    from onnxscore.proxies import aznas

    return on_fresh(model, ctx, "aznas",
                    lambda net, x: aznas.compute(net, x, seed=ctx.seed, providers=ctx.providers))


def _value(res, field: str) -> float:
    v = getattr(res, field)
    if v is None:
        raise ProxyError(f"az_{field}: {res.reason or 'undefined for this model'}")
    return float(v)


@register("az_expressivity", "AZ-NAS expressivity: summed eigenvalue entropy of each block's feature "
          "covariance (fresh net, randn batch)", needs=("model",))
def az_expressivity(model, ctx) -> float:
    return _value(components(model, ctx), "expressivity")


@register("az_progressivity", "AZ-NAS progressivity: smallest increase of that entropy from one block "
          "to the next", needs=("model",))
def az_progressivity(model, ctx) -> float:
    return _value(components(model, ctx), "progressivity")


@register("az_trainability", "AZ-NAS trainability: mean of 2 - s - 1/s, s the spectral norm of each "
          "block's Jacobian (from VJPs)", needs=("model",))
def az_trainability(model, ctx) -> float:
    return _value(components(model, ctx), "trainability")
