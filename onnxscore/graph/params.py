"""Count trainable parameters of an ONNX graph (what NAS papers call "params").

The graph count is what the ONNX file holds. A converter can fold weights away (tf2onnx drops
zero biases and unit BatchNorm scales of an untrained Keras model), so the Keras converter records
Keras's own trainable count in the model's metadata_props; it is preferred while the graph is the one
it was recorded for (the graph count stored beside it still matches), and the source is reported.
"""
from __future__ import annotations

import numpy as np
import onnx

from onnxscore.graph.view import GraphView, subgraphs

SOURCE_KEY = "onnxscore.trainable_params"  # the source framework's trainable parameter count
GRAPH_KEY = "onnxscore.graph_params"  # the graph count when SOURCE_KEY was recorded (staleness check)
SOURCE_LABEL = "onnxscore.params_source"  # e.g. "keras count_params of trainable weights"


def _bn_running_stats(view: GraphView) -> set[str]:
    """Running mean/variance of BatchNormalization: buffers, not parameters."""
    return {
        name
        for n in view.graph.node
        if n.op_type == "BatchNormalization"
        for name in n.input[3:5]
    }


FLOAT_TYPES = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE,
               onnx.TensorProto.BFLOAT16}


def _read_names(graph: onnx.GraphProto) -> set[str]:
    """Tensors some node reads (in this graph or a nested body), or that are graph outputs: an
    initializer nothing reads is not a weight of the network."""
    names = {o.name for o in graph.output}
    for n in graph.node:
        names.update(n.input)
        for g in subgraphs(n):
            names |= _read_names(g)
    return names


def count_graph_params(model: onnx.ModelProto) -> int:
    """Elements of float weight tensors (initializers some node reads, and Constant nodes) with more
    than one element, excluding BatchNorm running statistics. Scalars (a Clip bound, a multiply by 0)
    are constants, not parameters."""
    view = GraphView(model)
    skip = _bn_running_stats(view)
    read = _read_names(model.graph)
    total = 0
    for t in model.graph.initializer:
        if t.name in skip or t.name not in read or t.data_type not in FLOAT_TYPES:
            continue
        size = int(np.prod(t.dims)) if len(t.dims) else 1
        total += size if size > 1 else 0
    for n in model.graph.node:
        if n.op_type != "Constant" or n.output[0] in skip:
            continue
        for a in n.attribute:
            if a.name == "value" and a.t.data_type in FLOAT_TYPES:
                size = int(np.prod(a.t.dims)) if len(a.t.dims) else 1
                total += size if size > 1 else 0
    return total


def count_params_with_source(model: onnx.ModelProto) -> tuple[int, str | None]:
    """(params, source): the recorded source-framework count and its label when it applies to this
    graph, else (the graph count, None)."""
    graph = count_graph_params(model)
    meta = {p.key: p.value for p in model.metadata_props}
    try:
        recorded, at = int(meta[SOURCE_KEY]), int(meta[GRAPH_KEY])
    except (KeyError, ValueError):
        return graph, None
    if at != graph or recorded < 0:  # the graph changed since conversion: its own count is the truth
        return graph, None
    return recorded, meta.get(SOURCE_LABEL, "recorded by the converter")


def count_params(model: onnx.ModelProto) -> int:
    """Trainable parameters: the source framework's count when the converter recorded one for this
    graph (see the module docstring), else the graph count."""
    return count_params_with_source(model)[0]
