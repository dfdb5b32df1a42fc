"""Which tensors are AZ-NAS's feature maps: the model's declared taps, else a simple structural guess."""
from __future__ import annotations

import onnx

from onnxscore.graph.features import declared_features
from onnxscore.graph.view import GraphView, infer_tensors

MERGES = ("Add", "Sum", "Concat")


def fallback_taps(model: onnx.ModelProto) -> list[str]:
    """Taps of an arbitrary CNN (a model with static input shapes, BN not yet rewritten):
    the stem, i.e. the first Conv's output or, when its only reader is a BatchNormalization, that
    BN's output; then, in execution order, the output of every Add/Sum/Concat reading two or more
    non-constant 4-D tensors (a residual or merge point, the end of a block). Nothing else: blocks
    without a merge (plain VGG stages) are not found, and [] when the model has no Conv."""
    view = GraphView(model)
    info = infer_tensors(model)
    consts = set(view.initializers) | {o for n in model.graph.node if n.op_type == "Constant" for o in n.output}
    nodes = [model.graph.node[i] for i in view.order]
    first = next((k for k, n in enumerate(nodes) if n.op_type == "Conv"), None)
    if first is None:
        return []
    stem = nodes[first].output[0]
    readers = view.consumers.get(stem, [])
    if len(readers) == 1 and model.graph.node[readers[0]].op_type == "BatchNormalization":
        stem = model.graph.node[readers[0]].output[0]
    taps = [stem]
    for n in nodes[first + 1:]:
        if n.op_type not in MERGES:
            continue
        live = [i for i in n.input if i and i not in consts and (info.get(i) or (0, None))[1] == 4]
        if len(live) >= 2 and n.output[0] not in taps:
            taps.append(n.output[0])
    return taps


def feature_taps(model: onnx.ModelProto) -> tuple[list[str], str]:
    """(tap names in forward order, "declared" or "fallback")."""
    declared = declared_features(model)
    if declared is not None:
        return declared, "declared"
    return fallback_taps(model), "fallback"
