"""The inference form of a scoring graph, for latency: BatchNorm on running statistics, as deployed.

A scoring graph normalises with batch statistics (the proxies' protocol), which costs two reductions
per BatchNorm that a deployed network never pays. Latency is therefore timed on this form:
- a BatchNormalization node with training_mode=1 is switched to training_mode=0 (its running mean and
  variance, which onnxruntime then fuses into the preceding Conv);
- a Keras model converted by onnxscore carries, per BatchNorm layer, the names of the tensors holding
  its batch mean and variance (onnxscore.converters.keras.record_batch_moments); they become constants
  equal to Keras's initial running statistics (mean 0, variance 1), and the statistics arithmetic
  folds away at session creation. The ops left are those of Keras's inference trace; for a trained
  model the values differ from its inference output, the cost does not.
A batch-statistics graph with no such record (a tf.function traced with training=True) is timed as
given, and the result says so.
"""
from __future__ import annotations

import json

import numpy as np
import onnx
from onnx import numpy_helper

from onnxscore.graph.view import subgraphs

MOMENTS_KEY = "onnxscore.bn_moments"


def _meta(model: onnx.ModelProto, key: str) -> str | None:
    return next((p.value for p in model.metadata_props if p.key == key), None)


def _flip_training_bn(model: onnx.ModelProto) -> int:
    """training_mode=1 BatchNormalization -> inference form; returns how many were flipped."""
    graph_outputs = {o.name for o in model.graph.output}
    read = {i for n in model.graph.node for i in n.input} | graph_outputs
    flipped = 0
    for node in model.graph.node:
        if node.op_type != "BatchNormalization":
            continue
        mode = next((a for a in node.attribute if a.name == "training_mode"), None)
        if mode is None or mode.i == 0 or any(o and o in read for o in node.output[1:]):
            continue
        mode.i = 0
        del node.output[1:]
        flipped += 1
    return flipped


def _freeze_moments(model: onnx.ModelProto, records: list[dict]) -> int:
    """Replace each recorded batch mean/variance by running-statistics constants; returns how many layers."""
    consts = {}
    for r in records:
        shape = [int(d) for d in r["shape"]]
        consts[r["mean"]] = np.zeros(shape, np.float32)
        consts[r["var"]] = np.ones(shape, np.float32)
    produced = {o for n in model.graph.node for o in n.output}
    if not set(consts) <= produced:
        return 0
    keep = [n for n in model.graph.node if not any(o in consts for o in n.output)]
    del model.graph.node[:]
    model.graph.node.extend(keep)
    model.graph.initializer.extend(numpy_helper.from_array(v, k) for k, v in consts.items())
    _drop_dead(model)
    return len(records)


def _drop_dead(model: onnx.ModelProto) -> None:
    """Remove nodes and initializers no graph output depends on any more."""
    needed = {o.name for o in model.graph.output}
    keep = []
    for node in reversed(list(model.graph.node)):
        if any(o in needed for o in node.output):
            keep.append(node)
            needed.update(i for i in node.input if i)
            needed.update(_subgraph_reads(node))
    del model.graph.node[:]
    model.graph.node.extend(reversed(keep))
    inits = [t for t in model.graph.initializer if t.name in needed]
    del model.graph.initializer[:]
    model.graph.initializer.extend(inits)


def _subgraph_reads(node: onnx.NodeProto) -> set[str]:
    """Every tensor name read inside the node's subgraphs (If/Loop/Scan bodies may read outer tensors)."""
    reads: set[str] = set()
    for g in subgraphs(node):
        for n in g.node:
            reads.update(i for i in n.input if i)
            reads |= _subgraph_reads(n)
    return reads


def inference_graph(model: onnx.ModelProto) -> tuple[onnx.ModelProto, str]:
    """A copy of `model` in inference form, and what it is: "inference" or why it is timed as given."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    _flip_training_bn(out)
    record = _meta(out, MOMENTS_KEY)
    if record:
        records = json.loads(record)
        if _freeze_moments(out, records) != len(records):
            return model, "as given: the recorded BatchNorm moments are not in the graph any more"
    elif _meta(out, "onnxscore.bn") == "batch":
        return model, "as given: batch-statistics BatchNorm with no record of its layers"
    return out, "inference"


__all__ = ["inference_graph", "MOMENTS_KEY"]
