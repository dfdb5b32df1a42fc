"""Gradients of LayerNormalization and (inference-mode) BatchNormalization, by differentiating their
elementary expansion with the other rules: correct by construction and differentiable again.

Train-mode BatchNormalization is refused: onnxruntime computes that node wrongly, so onnxscore
rewrites it into the same elementary ops first (onnxscore.graph.batchnorm.use_batch_statistics)."""
from __future__ import annotations

from onnxscore.graph.autodiff.backward import differentiate
from onnxscore.graph.autodiff.registry import unsupported, vjp
from onnxscore.graph.autodiff.standardize import mean
from onnxscore.graph.view import attr


def _same(em, out, like):
    return em.declare(out, em.dtype(like), em.dims(like))


@vjp("LayerNormalization")
def layer_norm(em, node, grads):
    if any(g is not None for g in grads[1:]):
        raise unsupported(node, "its Mean/InvStdDev outputs are differentiated")
    x, scale = node.input[0], node.input[1]
    bias = node.input[2] if len(node.input) > 2 else ""
    rank = em.rank(x)
    dims = em.dims(x)
    axes = list(range(attr(node, "axis", -1) % rank, rank))
    start = len(em.nodes)
    mu = mean(em, x, axes, dims)
    centred = _same(em, em.op("Sub", [x, mu]), x)
    var = mean(em, _same(em, em.op("Mul", [centred, centred]), x), axes, dims)
    std = em.op("Sqrt", [em.op("Add", [var, em.scalar(attr(node, "epsilon", 1e-5), x)])])
    for t in em.nodes[-2:]:
        em.declare(t.output[0], em.dtype(x), em.dims(var))
    y = _same(em, em.op("Mul", [_same(em, em.op("Div", [centred, std]), x), scale]), x)
    if bias:
        y = _same(em, em.op("Add", [y, bias]), x)
    return differentiate(em, em.nodes[start:], y, grads[0], [x, scale, bias])


@vjp("BatchNormalization")
def batch_norm(em, node, grads):
    if attr(node, "training_mode", 0):
        raise unsupported(node, "training_mode=1; rewrite it first with "
                                "onnxscore.graph.batchnorm.use_batch_statistics")
    x, scale, bias, mean, var = node.input[:5]
    rank = em.rank(x)
    dims = em.dims(x)
    channel = [1, dims[1]] + [1] * (rank - 2)
    cshape = em.ints([1, -1] + [1] * (rank - 2))
    start = len(em.nodes)

    def per_channel(t):
        return em.declare(em.op("Reshape", [t, cshape]), em.dtype(x), channel)
    shift = _same(em, em.op("Sub", [x, per_channel(mean)]), x)
    std = em.op("Sqrt", [em.op("Add", [per_channel(var), em.scalar(attr(node, "epsilon", 1e-5), x)])])
    for t in em.nodes[-2:]:
        em.declare(t.output[0], em.dtype(x), channel)
    y = _same(em, em.op("Mul", [_same(em, em.op("Div", [shift, std]), x), per_channel(scale)]), x)
    y = _same(em, em.op("Add", [y, per_channel(bias)]), x)
    return differentiate(em, em.nodes[start:], y, grads[0], [x, scale, bias, mean, var])

