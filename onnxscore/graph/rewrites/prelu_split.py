"""Keras PReLU's relu(-x) half as Max(-x, 0), so a PReLU is one site."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper

from onnxscore.graph.rewrites import rewrite

@rewrite("prelu-split")
def split_prelu(model: onnx.ModelProto) -> int:
    """Keras PReLU = relu(x) + (-alpha) * relu(-x): rewrite the relu(-x) node as Max(-x, 0), so each
    PReLU is one site (the sign of x) instead of two complementary ones. Returns how many."""
    producers = {o: n for n in model.graph.node for o in n.output}
    relu_inputs = {n.input[0] for n in model.graph.node if n.op_type == "Relu"}
    zero = "onnxscore_prelu_zero"
    count = 0
    for node in model.graph.node:
        if node.op_type != "Relu":
            continue
        neg = producers.get(node.input[0])
        if neg is None or neg.op_type != "Neg" or neg.input[0] not in relu_inputs:
            continue
        node.op_type = "Max"
        node.input.append(zero)
        count += 1
    if count:
        model.graph.initializer.append(numpy_helper.from_array(np.array(0.0, dtype=np.float32), zero))
    return count
