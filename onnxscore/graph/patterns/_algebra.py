"""Elementwise arithmetic read as a polynomial in leaf tensors, so one check covers every way an
exporter orders and groups the same formula (0.5 * (x * g), (x * 0.5) * g, x * g / 2, ...).

A Transpose is elementwise up to a permutation of axes, and tf2onnx puts layout Transposes inside
activations (NCHW convolutions in an NHWC Keras graph): a leaf read through Transposes is the tensor
tagged with the net permutation (`tagged`), so `T(x) * erf(T(x) / sqrt(2))` is still one leaf `x@perm`
and two Transposes that cancel leave plain `x`; `base` gives the tensor back."""
from __future__ import annotations

import math

import numpy as np

from onnxscore.graph.view import GraphView

Monomial = tuple[tuple[str, int], ...]  # sorted (leaf tensor, power) pairs; () is the constant term
Poly = dict[Monomial, float]
EXPANDED = ("Add", "Sub", "Mul", "Div", "Pow", "Neg", "Transpose")
_TAG = "\x00perm="
MAX_TERMS = 8
MAX_DEPTH = 8


def _mul(a: Poly, b: Poly) -> Poly | None:
    out: Poly = {}
    for ma, ca in a.items():
        for mb, cb in b.items():
            powers: dict[str, int] = dict(ma)
            for leaf, k in mb:
                powers[leaf] = powers.get(leaf, 0) + k
            key = tuple(sorted(powers.items()))
            out[key] = out.get(key, 0.0) + ca * cb
    out = {k: c for k, c in out.items() if c != 0.0}
    return out if len(out) <= MAX_TERMS else None


def _add(a: Poly, b: Poly, sign: float = 1.0) -> Poly:
    out = dict(a)
    for k, c in b.items():
        out[k] = out.get(k, 0.0) + sign * c
    return {k: c for k, c in out.items() if c != 0.0}


def tagged(name: str, perm: tuple[int, ...] | None) -> str:
    """The leaf of `name` read through Transposes with net permutation `perm` (identity: `name` itself)."""
    return name if perm is None or list(perm) == list(range(len(perm))) else f"{name}{_TAG}{','.join(map(str, perm))}"


def base(leaf_name: str) -> str:
    """The tensor a (possibly tagged) leaf reads."""
    return leaf_name.split(_TAG, 1)[0]


def _permuted(leaf_name: str, perm: list[int]) -> str:
    """A leaf after one more Transpose(perm): net permutation old[perm[j]] (identity when untagged)."""
    name, _, old = leaf_name.partition(_TAG)
    prev = [int(v) for v in old.split(",")] if old else list(range(len(perm)))
    if len(prev) != len(perm):
        return ""
    return tagged(name, tuple(prev[j] for j in perm))


def _transpose(view: GraphView, node, inner: Poly) -> Poly | None:
    """A polynomial pushed through a Transpose: every leaf gets the permutation (constants are scalars)."""
    perm = next((list(a.ints) for a in node.attribute if a.name == "perm"), None)
    if perm is None:
        return None  # the default (reversed axes) needs the rank; not written by the exporters matched here
    out: Poly = {}
    for mono, c in inner.items():
        leaves = [(_permuted(n, perm), k) for n, k in mono]
        if any(not n for n, _ in leaves):
            return None
        key = tuple(sorted(leaves))
        out[key] = out.get(key, 0.0) + c
    return out


def scalar(view: GraphView, name: str) -> float | None:
    """The value of a one-element constant tensor, else None."""
    v = view.constant_value(name)
    return None if v is None or np.size(v) != 1 else float(np.asarray(v, dtype=np.float64).reshape(()))


def expand(view: GraphView, name: str, nodes: set[int], top: bool = True, depth: int = 0) -> Poly | None:
    """`name` as a polynomial; the nodes expanded are added to `nodes`. Below the top only tensors read by
    one node (and not graph outputs) are expanded, so a leaf is a value the formula shares or takes in."""
    c = scalar(view, name)
    if c is not None:
        return {(): c}
    leaf: Poly = {((name, 1),): 1.0}
    idx = view.producer.get(name)
    if idx is None or depth > MAX_DEPTH:
        return leaf
    node = view.graph.node[idx]
    if node.op_type not in EXPANDED:
        return leaf
    if not top and (len(view.consumers.get(name, ())) != 1 or name in {o.name for o in view.graph.output}):
        return leaf
    parts = [expand(view, i, nodes, False, depth + 1) for i in node.input]
    if any(p is None for p in parts):
        return None
    if node.op_type == "Transpose":
        out = _transpose(view, node, parts[0])
        if out is None:
            return leaf
    elif node.op_type == "Neg":
        out = {k: -v for k, v in parts[0].items()}
    elif node.op_type in ("Add", "Sub"):
        out = _add(parts[0], parts[1], 1.0 if node.op_type == "Add" else -1.0)
    elif node.op_type == "Mul":
        out = _mul(parts[0], parts[1])
    elif node.op_type == "Div":
        den = scalar(view, node.input[1])
        if not den:
            return leaf
        out = {k: v / den for k, v in parts[0].items()}
    else:  # Pow with a small whole exponent
        exp = scalar(view, node.input[1])
        if exp is None or exp != round(exp) or not 1 <= exp <= 4:
            return leaf
        out = parts[0]
        for _ in range(int(exp) - 1):
            out = _mul(out, parts[0]) if out is not None else None
    if out is None:
        return None
    nodes.add(idx)
    return out


def close(a: float, b: float, rel: float = 1e-5) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=0.0)


def same(p: Poly | None, want: Poly, rel: float = 1e-5) -> bool:
    """Same monomials with coefficients equal to `rel` (exporters round constants to float32)."""
    return p is not None and p.keys() == want.keys() and all(close(p[k], want[k], rel) for k in want)


def linear_in(p: Poly | None) -> tuple[str, float] | None:
    """(x, a) when `p` is a * x for one leaf x, else None."""
    if p is None or len(p) != 1:
        return None
    (mono, coef), = p.items()
    return (mono[0][0], coef) if len(mono) == 1 and mono[0][1] == 1 else None


def top_match(view: GraphView, start: int, check, steps: int = 4):
    """Walk from node `start` down its chain of single readers (elementwise arithmetic) and return
    (node index, expanded nodes) of the first node whose output, expanded, satisfies `check`."""
    idx = start
    for _ in range(steps + 1):
        nodes: set[int] = set()
        if check(expand(view, view.graph.node[idx].output[0], nodes)):
            return idx, nodes
        readers = view.consumers.get(view.graph.node[idx].output[0], [])
        if len(readers) != 1 or view.graph.node[readers[0]].op_type not in EXPANDED:
            return None
        idx = readers[0]
    return None


def leaf(name: str, power: int = 1) -> Monomial:
    return ((name, power),)


def mono(*names: str) -> Monomial:
    """The monomial that multiplies the given leaves once each."""
    powers: dict[str, int] = {}
    for n in names:
        powers[n] = powers.get(n, 0) + 1
    return tuple(sorted(powers.items()))


def affine_inputs(view: GraphView, name: str, steps: int = 3):
    """Yield (t, a, b, nodes) with name = a * t + b, peeling single-reader Add/Sub/Mul/Div by a constant
    one at a time from `name` backwards: the shallowest t first, so an activation whose input is itself
    a scaled tensor (hard_sigmoid(2 * x)) is matched on its own input, not on x."""
    a, b, nodes = 1.0, 0.0, set()
    for _ in range(steps):
        idx = view.producer.get(name)
        if idx is None or len(view.consumers.get(name, ())) != 1 and nodes:
            return
        node = view.graph.node[idx]
        if node.op_type not in ("Add", "Sub", "Mul", "Div") or len(node.input) != 2:
            return
        consts = [scalar(view, i) for i in node.input]
        if (consts[0] is None) == (consts[1] is None):
            return
        k = 1 if consts[0] is None else 0
        c, t = consts[k], node.input[1 - k]
        if node.op_type == "Add":
            b += a * c
        elif node.op_type == "Sub":
            b, a = (b - a * c, a) if k == 1 else (b + a * c, -a)
        elif node.op_type == "Mul":
            a *= c
        elif k == 1 and c:
            a /= c
        else:
            return
        nodes = nodes | {idx}
        name = t
        yield t, a, b, nodes
