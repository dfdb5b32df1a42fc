"""The vector-Jacobian product rules by op type, and the errors of the reverse-mode pass.

A rule is `rule(em, node, grads) -> list`: `em` is the Emitter writing the backward nodes, `grads`
the gradient tensor of each output of `node` (None where that output does not reach the loss), and
the result one gradient per input (None for an input that needs none), already summed back to that
input's own shape. Rule modules register themselves with `@vjp(...)` when imported; the package
`__init__` imports every one of them, so the table is complete once `onnxscore.graph.autodiff` is.
"""
from __future__ import annotations

from typing import Callable

import onnx

from onnxscore.errors import OnnxscoreError

RULES: dict[str, Callable] = {}

# Ops whose outputs carry no gradient: integer/boolean results, or piecewise-constant float ones
# (autograd gives Sign/Floor/Round a zero derivative too). Their outputs are never differentiated.
NO_GRADIENT = frozenset({
    "Shape", "Size", "NonZero", "ArgMax", "ArgMin", "Equal", "Greater", "GreaterOrEqual", "Less",
    "LessOrEqual", "Not", "And", "Or", "Xor", "IsNaN", "IsInf", "Sign", "Floor", "Ceil", "Round",
    "ConstantOfShape", "Constant", "EyeLike", "RandomNormal", "RandomUniform", "RandomNormalLike",
    "RandomUniformLike", "Multinomial", "Bernoulli", "Range", "OneHot",
})


class AutodiffError(OnnxscoreError):
    """The reverse-mode pass cannot differentiate this model as asked (bad loss or wrt, no shape)."""


class UnsupportedOpError(AutodiffError):
    """A differentiated tensor reaches an op (or an op setting) that has no gradient rule."""


def vjp(*op_types: str):
    """Register the decorated function as the vector-Jacobian rule of `op_types`."""
    def register(fn: Callable) -> Callable:
        for op in op_types:
            if op in RULES:
                raise RuntimeError(f"two gradient rules for {op}: {RULES[op].__module__} and {fn.__module__}")
            RULES[op] = fn
        return fn
    return register


def describe(node: onnx.NodeProto) -> str:
    """`Conv node 'stem.0' (output 'x')`: how errors name a node."""
    name = f" '{node.name}'" if node.name else ""
    return f"{node.op_type} node{name} (output '{node.output[0]}')"


def unsupported(node: onnx.NodeProto, why: str) -> UnsupportedOpError:
    """The error for a node whose op or setting the pass cannot differentiate."""
    return UnsupportedOpError(f"cannot differentiate {describe(node)}: {why}")


def text(node: onnx.NodeProto, name: str, default: str) -> str:
    """A string attribute as str (onnx returns bytes, which never equal a str literal)."""
    for a in node.attribute:
        if a.name == name:
            return a.s.decode()
    return default


def rule_for(node: onnx.NodeProto) -> Callable:
    if node.domain not in ("", "ai.onnx") or node.op_type not in RULES:
        op = f"{node.domain}.{node.op_type}" if node.domain else node.op_type
        raise unsupported(node, f"{op} has no gradient rule (ops with one: {', '.join(sorted(RULES))})")
    return RULES[node.op_type]
