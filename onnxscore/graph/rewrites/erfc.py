"""TensorFlow's Erfc (no ONNX op) as 1 - Erf: exact GELU from tf2onnx becomes convertible."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper

from onnxscore.graph.rewrites import rewrite

@rewrite("erfc")
def rewrite_erfc(model: onnx.ModelProto) -> int:
    """Exact GELU traces to TensorFlow's Erfc, which tf2onnx passes through as an op ONNX lacks:
    write each as 1 - Erf(x) (same value; ONNX has Erf). Returns how many."""
    count = 0
    for node in model.graph.node:
        if node.op_type != "Erfc" or node.domain not in ("", "ai.onnx"):
            continue
        erf = node.output[0] + "_onnxscore_erf"
        one = node.output[0] + "_onnxscore_one"
        model.graph.node.append(onnx.helper.make_node("Erf", [node.input[0]], [erf], name=node.name + "_erf"))
        model.graph.initializer.append(numpy_helper.from_array(np.array(1.0, dtype=np.float32), one))
        node.op_type, node.input[:] = "Sub", [one, erf]
        count += 1
    if count:  # the new Erf nodes were appended: restore a topological order
        from onnxscore.edge.memory import topological_order

        order = topological_order(model.graph)
        del model.graph.node[:]
        model.graph.node.extend(order)
    return count
