"""Gradients of Softmax and LogSoftmax along one axis (opset >= 13 semantics)."""
from __future__ import annotations

from onnxscore.graph.autodiff.registry import vjp
from onnxscore.graph.view import attr


def _axis_sum(em, node, t):
    axis = attr(node, "axis", -1)
    return em.op("ReduceSum", [t, em.ints([axis])], keepdims=1)


@vjp("Softmax")
def softmax(em, node, grads):
    g, y = grads[0], node.output[0]  # dx = y (g - sum(g y))
    return [em.op("Mul", [y, em.op("Sub", [g, _axis_sum(em, node, em.op("Mul", [g, y]))])])]


@vjp("LogSoftmax")
def log_softmax(em, node, grads):
    g, y = grads[0], node.output[0]  # dx = g - softmax(x) sum(g), softmax(x) = exp(y)
    return [em.op("Sub", [g, em.op("Mul", [em.op("Exp", [y]), _axis_sum(em, node, g)])])]
