"""Clip bounds computed through Cast/CastLike/Squeeze folded to initializers (ReLU6 is a site)."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper

from onnxscore.graph.rewrites import rewrite

@rewrite("clip-bounds")
def fold_clip_bounds(model: onnx.ModelProto) -> int:
    """Make each Clip's min/max a plain initializer when it is a constant computed through
    Cast/CastLike/Squeeze (torch dynamo, paddle2onnx), so ReLU6 is recognised as a site."""
    from onnxscore.graph.view import GraphView

    view = GraphView(model)
    producers = view.producer_nodes()
    inits = {t.name: t for t in model.graph.initializer}
    folded = 0
    for node in model.graph.node:
        if node.op_type != "Clip":
            continue
        for k in range(1, len(node.input)):
            name = node.input[k]
            if not name or name in inits or (name in producers and producers[name].op_type == "Constant"):
                continue
            val = view.constant_value(name)
            if val is None or val.size != 1:
                continue
            new = f"{name}__onnxscore_const"
            if new not in inits:
                t = numpy_helper.from_array(np.asarray(val).reshape(()), new)
                model.graph.initializer.append(t)
                inits[new] = t
            node.input[k] = new
            folded += 1
    return folded
