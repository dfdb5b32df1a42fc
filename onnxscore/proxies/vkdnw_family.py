"""VKDNW (Tybl & Neumann, CVPR 2025) as proxies: the entropy of the Fisher information's spectrum and
the number of parameter tensors (its "number of trainable layers"). Ranked together, lexicographically,
they are the vkdnw_single ensemble."""
from __future__ import annotations

from onnxscore.errors import ProxyError
from onnxscore.proxies.fresh import on_fresh
from onnxscore.proxies.registry import register

def fisher(model, ctx):
    from onnxscore.proxies import vkdnw

    return on_fresh(model, ctx, "vkdnw", lambda net, x: vkdnw.compute(net, x, providers=ctx.providers))


@register("vkdnw_entropy", "VKDNW: entropy of the deciles of the Fisher information's eigenvalues "
          "(logit Jacobian of one scalar per parameter tensor, eval-mode BN)", needs=("model",))
def vkdnw_entropy(model, ctx) -> float:
    res = fisher(model, ctx)
    if res.entropy is None:
        raise ProxyError(f"vkdnw_entropy: {res.reason or 'undefined for this model'}")
    return float(res.entropy)


@register("vkdnw_dim", "VKDNW's size term: the number of parameter tensors (weights, biases, BN scales "
          "and shifts), from the graph", needs=("graph",))
def vkdnw_dim(model, ctx) -> float:
    from onnxscore.proxies.vkdnw.params import dim

    return float(dim(model))
