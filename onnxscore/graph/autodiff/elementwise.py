"""Gradients of broadcasting arithmetic and elementary functions (Add ... Pow, Exp, Log, Sqrt, Where).

Nonlinear rules read the forward tensors they need (an input or the node's own output) rather than
recomputing them; a second pass differentiates through those reads like any other tensor."""
from __future__ import annotations

import math

from onnxscore.graph.autodiff.registry import vjp


def _each(em, node, grads_per_input):
    """Sum each input's gradient back over the axes it was broadcast along; None where not needed."""
    y = node.output[0]
    return [em.unbroadcast(g, x, y) if g is not None and em.needs(x) else None
            for x, g in zip(node.input, grads_per_input)]


def _lazy(em, name, make):
    """`make()` when `name` needs a gradient, else None (no node is written for it)."""
    return make() if em.needs(name) else None


@vjp("Add")
def add(em, node, grads):
    g = grads[0]
    return _each(em, node, [g, g])


@vjp("Sub")
def sub(em, node, grads):
    g = grads[0]
    b = node.input[1]
    return _each(em, node, [g, _lazy(em, b, lambda: em.op("Neg", [g]))])


@vjp("Sum")
def sum_(em, node, grads):
    return _each(em, node, [grads[0]] * len(node.input))


@vjp("Mul")
def mul(em, node, grads):
    g, (a, b) = grads[0], node.input
    return _each(em, node, [_lazy(em, a, lambda: em.op("Mul", [g, b])),
                            _lazy(em, b, lambda: em.op("Mul", [g, a]))])


@vjp("Div")
def div(em, node, grads):
    # y = a / b: dy/da = 1 / b, dy/db = -y / b
    g, (a, b), y = grads[0], node.input, node.output[0]
    return _each(em, node, [_lazy(em, a, lambda: em.op("Div", [g, b])),
                            _lazy(em, b, lambda: em.op("Neg", [em.op("Div", [em.op("Mul", [g, y]), b])]))])


@vjp("Neg")
def neg(em, node, grads):
    return [em.op("Neg", [grads[0]])]


@vjp("Sqrt")
def sqrt(em, node, grads):
    y = node.output[0]
    return [em.op("Div", [grads[0], em.op("Mul", [y, em.scalar(2.0, y)])])]


@vjp("Exp")
def exp(em, node, grads):
    return [em.op("Mul", [grads[0], node.output[0]])]


@vjp("Log")
def log(em, node, grads):
    return [em.op("Div", [grads[0], node.input[0]])]


@vjp("Reciprocal")
def reciprocal(em, node, grads):
    y = node.output[0]  # d(1/x)/dx = -1/x^2 = -y^2
    return [em.op("Neg", [em.op("Mul", [grads[0], em.op("Mul", [y, y])])])]


@vjp("Pow")
def pow_(em, node, grads):
    # y = a^b: dy/da = b a^(b-1), dy/db = y ln a (as autograd: nan/inf where a <= 0 is the true value)
    g, (a, b), y = grads[0], node.input, node.output[0]

    def d_base():
        minus_one = em.op("Sub", [b, em.scalar(1.0, b)])
        return em.op("Mul", [g, em.op("Mul", [b, em.op("Pow", [a, minus_one])])])

    def d_exponent():
        return em.op("Mul", [g, em.op("Mul", [y, em.op("Log", [a])])])
    return _each(em, node, [_lazy(em, a, d_base), _lazy(em, b, d_exponent)])


@vjp("Abs")
def abs_(em, node, grads):
    x = node.input[0]  # sign(0) = 0, as autograd
    return [em.op("Mul", [grads[0], em.op("Sign", [x])])]


@vjp("Erf")
def erf(em, node, grads):
    x = node.input[0]  # d erf/dx = 2/sqrt(pi) exp(-x^2)
    gauss = em.op("Exp", [em.op("Neg", [em.op("Mul", [x, x])])])
    return [em.op("Mul", [grads[0], em.op("Mul", [gauss, em.scalar(2.0 / math.sqrt(math.pi), x)])])]


@vjp("Where")
def where(em, node, grads):
    g, (c, a, b) = grads[0], node.input
    zero = em.scalar(0.0, node.output[0])
    return _each(em, node, [None, _lazy(em, a, lambda: em.op("Where", [c, g, zero])),
                            _lazy(em, b, lambda: em.op("Where", [c, zero, g]))])
