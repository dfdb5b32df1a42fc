"""Count trainable parameters of an ONNX graph (what NAS papers call "params")."""
from __future__ import annotations

import numpy as np
import onnx

from onnxscore.graph.view import GraphView


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


def count_params(model: onnx.ModelProto) -> int:
    """Elements of float weight tensors (initializers and Constant nodes) with more than one
    element, excluding BatchNorm running statistics. Scalars (a Clip bound, a multiply by 0)
    are constants, not parameters."""
    view = GraphView(model)
    skip = _bn_running_stats(view)
    total = 0
    for t in model.graph.initializer:
        if t.name in skip or t.data_type not in FLOAT_TYPES:
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
