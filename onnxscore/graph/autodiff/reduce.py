"""Gradients of ReduceSum and ReduceMean: the output gradient spread back over the reduced axes."""
from __future__ import annotations

import numpy as np

from onnxscore.graph.autodiff.registry import unsupported, vjp
from onnxscore.graph.view import attr


def reduced_axes(em, node) -> list[int] | None:
    """The node's reduced axes, normalised and sorted; None when it reduces nothing (noop).
    Axes computed at run time are fine with keepdims=1 (the gradient is an Expand): returns []."""
    rank = em.rank(node.input[0])
    if len(node.input) > 1 and node.input[1]:
        value = em.value(node.input[1])
        if value is None:
            if attr(node, "keepdims", 1):
                return []
            raise unsupported(node, "its axes are computed at run time and keepdims=0")
        axes = [int(a) for a in np.ravel(value)]
    else:
        axes = list(attr(node, "axes", []) or [])
    if not axes:
        return None if attr(node, "noop_with_empty_axes", 0) else list(range(rank))
    return sorted(a % rank for a in axes)


def spread(em, node, g, axes) -> str:
    """g broadcast back to the input's shape (kept axes restored first when keepdims=0)."""
    if not attr(node, "keepdims", 1):
        g = em.op("Unsqueeze", [g, em.ints(axes)])
    return em.expand_like(g, node.input[0])


@vjp("ReduceSum")
def reduce_sum(em, node, grads):
    axes = reduced_axes(em, node)
    return [grads[0] if axes is None else spread(em, node, grads[0], axes)]


@vjp("ReduceMean")
def reduce_mean(em, node, grads):
    g, x = grads[0], node.input[0]
    axes = reduced_axes(em, node)
    if axes is None:
        return [g]
    dims = em.dims(x)
    sizes = [dims[a] for a in axes]
    if axes and all(isinstance(s, int) for s in sizes):
        count = em.scalar(float(np.prod(sizes)), x)
    else:  # elements averaged per output: size(x) / size(y)
        ratio = em.op("Div", [em.op("Size", [x]), em.op("Size", [node.output[0]])])
        count = em.op("Cast", [ratio], to=em.dtype(x))
    return [spread(em, node, em.op("Div", [g, count]), axes)]
