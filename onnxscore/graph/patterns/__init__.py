"""Activations that exporters decompose (GELU as an Erf chain, x * sigmoid(x), ...) found by pattern.

One pattern per module, registered with `@pattern` (onnxslim's shape). A matcher gets the view and
the index of an anchor node (the Erf, the Sigmoid, ...) and returns the `Region` the activation spans,
so `find_sites` treats it as one site coded by its input's sign and skips the ops inside it.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

from onnxscore.graph.view import GraphView


@dataclass(frozen=True)
class Region:
    """One matched activation: its input (the site tensor), its output and the nodes it spans."""

    pattern: str  # the pattern's name (gelu_erf, swish, ...)
    op_type: str  # the ONNX op the region computes (Gelu, Swish, HardSwish, ...)
    input: str
    output: str
    nodes: frozenset[int]  # node indices, the anchor and the node writing `output` included
    last: int  # index of the node writing `output`


Matcher = Callable[[GraphView, int], "Region | None"]
PATTERNS: list[tuple[str, tuple[str, ...], Matcher]] = []  # (name, anchor op types, matcher), by priority


def pattern(name: str, anchors: tuple[str, ...]):
    """Register a matcher tried at every node whose op type is in `anchors` (earlier registrations win)."""

    def register(fn: Matcher) -> Matcher:
        PATTERNS.append((name, anchors, fn))
        return fn

    return register


def _closed(view: GraphView, region: Region) -> bool:
    """Only the region's output leaves it: every other tensor it writes is read inside it alone."""
    outputs = {o.name for o in view.graph.output}
    for i in region.nodes:
        for out in view.graph.node[i].output:
            if out == region.output or not out:
                continue
            if out in outputs or any(c not in region.nodes for c in view.consumers.get(out, ())):
                return False
    return True


def find_regions(view: GraphView) -> list[Region]:
    """Every matched activation, no node in two regions; patterns are tried in registration order."""
    claimed: set[int] = set()
    regions: list[Region] = []
    for name, anchors, fn in PATTERNS:
        for i in view.order:
            if i in claimed or view.graph.node[i].op_type not in anchors:
                continue
            region = fn(view, i)
            if region is None or region.nodes & claimed or not _closed(view, region):
                continue
            region = replace(region, input=base(region.input))  # a leaf read through Transposes: its tensor
            claimed |= region.nodes
            regions.append(region)
    return regions


from onnxscore.graph.patterns._algebra import base  # noqa: E402

# import order is priority order: HardSwish contains a HardSigmoid, so it is tried first
from onnxscore.graph.patterns import hardswish, hardsigmoid, gelu_erf, gelu_tanh, mish, swish  # noqa: E402,F401

__all__ = ["Region", "PATTERNS", "pattern", "find_regions"]
