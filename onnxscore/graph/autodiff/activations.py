"""Gradients of the activation functions, with PyTorch's conventions at the kinks (ReLU'(0) = 0,
clamp's gradient 1 at both bounds, HardSwish's middle branch on [-3, 3])."""
from __future__ import annotations

import math

from onnxscore.graph.autodiff.registry import text, unsupported, vjp
from onnxscore.graph.view import attr


def _mask(em, node, cond, g):
    """g where `cond`, else 0."""
    return em.op("Where", [cond, g, em.scalar(0.0, node.output[0])])


@vjp("Relu")
def relu(em, node, grads):
    y = node.output[0]
    return [_mask(em, node, em.op("Greater", [y, em.scalar(0.0, y)]), grads[0])]


@vjp("LeakyRelu")
def leaky_relu(em, node, grads):
    g, x = grads[0], node.input[0]
    slope = em.op("Mul", [g, em.scalar(attr(node, "alpha", 0.01), x)])
    return [em.op("Where", [em.op("Greater", [x, em.scalar(0.0, x)]), g, slope])]


@vjp("PRelu")
def prelu(em, node, grads):
    g, (x, slope), y = grads[0], node.input, node.output[0]
    positive = em.op("Greater", [x, em.scalar(0.0, x)])
    dx = em.op("Where", [positive, g, em.op("Mul", [g, slope])]) if em.needs(x) else None
    dslope = None
    if em.needs(slope):
        dslope = em.unbroadcast(_mask(em, node, em.op("Not", [positive]), em.op("Mul", [g, x])), slope, y)
    return [dx, dslope]


@vjp("Elu")
def elu(em, node, grads):
    g, x, y = grads[0], node.input[0], node.output[0]
    negative = em.op("Mul", [g, em.op("Add", [y, em.scalar(attr(node, "alpha", 1.0), y)])])
    return [em.op("Where", [em.op("Greater", [x, em.scalar(0.0, x)]), g, negative])]


@vjp("Sigmoid")
def sigmoid(em, node, grads):
    y = node.output[0]
    return [em.op("Mul", [grads[0], em.op("Mul", [y, em.op("Sub", [em.scalar(1.0, y), y])])])]


@vjp("Tanh")
def tanh(em, node, grads):
    y = node.output[0]
    return [em.op("Mul", [grads[0], em.op("Sub", [em.scalar(1.0, y), em.op("Mul", [y, y])])])]


@vjp("Softplus")
def softplus(em, node, grads):
    return [em.op("Mul", [grads[0], em.op("Sigmoid", [node.input[0]])])]


@vjp("HardSigmoid")
def hard_sigmoid(em, node, grads):
    x = node.input[0]
    alpha = em.scalar(attr(node, "alpha", 0.2), x)
    t = em.op("Add", [em.op("Mul", [x, alpha]), em.scalar(attr(node, "beta", 0.5), x)])
    inside = em.op("And", [em.op("Greater", [t, em.scalar(0.0, x)]), em.op("Less", [t, em.scalar(1.0, x)])])
    return [_mask(em, node, inside, em.op("Mul", [grads[0], alpha]))]


@vjp("HardSwish")
def hard_swish(em, node, grads):
    g, x = grads[0], node.input[0]  # x * relu6(x + 3) / 6
    middle = em.op("Mul", [g, em.op("Add", [em.op("Div", [x, em.scalar(3.0, x)]), em.scalar(0.5, x)])])
    upper = em.op("Where", [em.op("LessOrEqual", [x, em.scalar(3.0, x)]), middle, g])
    return [em.op("Where", [em.op("Less", [x, em.scalar(-3.0, x)]), em.scalar(0.0, x), upper])]


@vjp("Gelu")
def gelu(em, node, grads):
    g, x = grads[0], node.input[0]
    c = lambda v: em.scalar(v, x)  # noqa: E731
    if text(node, "approximate", "none") == "tanh":
        # y = x/2 (1 + tanh(k (x + 0.044715 x^3))), k = sqrt(2/pi)
        k, a = math.sqrt(2.0 / math.pi), 0.044715
        x2 = em.op("Mul", [x, x])
        inner = em.op("Mul", [c(k), em.op("Add", [x, em.op("Mul", [c(a), em.op("Mul", [x2, x])])])])
        th = em.op("Tanh", [inner])
        left = em.op("Mul", [c(0.5), em.op("Add", [c(1.0), th])])
        slope = em.op("Mul", [c(k), em.op("Add", [c(1.0), em.op("Mul", [c(3 * a), x2])])])
        sech2 = em.op("Sub", [c(1.0), em.op("Mul", [th, th])])
        right = em.op("Mul", [em.op("Mul", [c(0.5), x]), em.op("Mul", [sech2, slope])])
        return [em.op("Mul", [g, em.op("Add", [left, right])])]
    # y = x Phi(x): dy/dx = Phi(x) + x phi(x)
    cdf = em.op("Mul", [c(0.5), em.op("Add", [c(1.0), em.op("Erf", [em.op("Mul", [x, c(1 / math.sqrt(2))])])])])
    pdf = em.op("Mul", [c(1 / math.sqrt(2 * math.pi)),
                        em.op("Exp", [em.op("Mul", [c(-0.5), em.op("Mul", [x, x])])])])
    return [em.op("Mul", [g, em.op("Add", [cdf, em.op("Mul", [x, pdf])])])]


@vjp("Clip")
def clip(em, node, grads):
    x, bounds = node.input[0], list(node.input[1:3])
    if any(em.needs(b) for b in bounds):
        raise unsupported(node, "its min/max depend on a differentiated tensor")
    inside = None
    for bound, cmp in zip(bounds, ("GreaterOrEqual", "LessOrEqual")):
        if bound:
            test = em.op(cmp, [x, bound])
            inside = test if inside is None else em.op("And", [inside, test])
    return [grads[0] if inside is None else _mask(em, node, inside, grads[0])]
