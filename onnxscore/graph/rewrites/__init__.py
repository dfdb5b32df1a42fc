"""Generic ONNX rewrites the converters apply (one per module, registered by name, onnxslim's shape):
they fix what an exporter writes so that onnxscore reads every activation as the source defined it.

erfc              TensorFlow's Erfc as 1 - Erf
prelu-split       Keras PReLU's relu(-x) half as Max(-x, 0)
hard-activations  hard_sigmoid / hard_silu chains as HardSigmoid / HardSwish
clip-bounds       Clip bounds computed through casts folded to initializers
prune-dead        nodes and initializers nothing reads any more
"""
from __future__ import annotations

from typing import Callable

import onnx

from onnxscore.graph.view import subgraphs

REWRITES: dict[str, Callable[[onnx.ModelProto], int]] = {}


def rewrite(name: str):
    """Register `fn(model) -> count` (in place) under `name`."""

    def deco(fn):
        REWRITES[name] = fn
        return fn

    return deco


def all_nodes(graph: onnx.GraphProto):
    """Nodes of `graph` and of every If/Loop/Scan body inside it."""
    for node in graph.node:
        yield node
        for g in subgraphs(node):
            yield from all_nodes(g)


def apply(model: onnx.ModelProto, *names: str) -> dict[str, int]:
    """Run the named rewrites in order; returns how much each changed."""
    return {n: REWRITES[n](model) for n in names}


from onnxscore.graph.rewrites import clip_bounds, erfc, hard_activations, prelu_split, prune_dead  # noqa: E402,F401

__all__ = ["REWRITES", "rewrite", "apply", "all_nodes"]
