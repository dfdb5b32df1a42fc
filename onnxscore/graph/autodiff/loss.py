"""Losses appended to a model so that append_backward has a scalar to differentiate."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from onnxscore.graph.autodiff.emitter import tensor_types
from onnxscore.graph.autodiff.registry import AutodiffError
from onnxscore.graph.view import all_names, fresh_prefix

LOSS_PREFIX = "onnxscore_loss_"


def add_cross_entropy(model: onnx.ModelProto, logits: str, labels: str = "labels", output: bool = True) -> str:
    """Append (in place) L = mean_n CE(logits_n, labels_n), as F.cross_entropy with its defaults;
    return L's name. Logits are [N, classes, ...]; `labels` (int64 [N, ...]) becomes a graph input
    unless the model already has that tensor. LogSoftmax then GatherElements: exact and stable."""
    types = tensor_types(model)
    dims = types.get(logits, (0, None))[1]
    if dims is None or len(dims) < 2:
        raise AutodiffError(f"logits '{logits}' must have a known rank >= 2 ([batch, classes, ...])")
    names = all_names(model)
    if labels not in names:
        model.graph.input.append(helper.make_tensor_value_info(labels, TensorProto.INT64, [dims[0]] + dims[2:]))
    p = fresh_prefix(names, LOSS_PREFIX)
    g = model.graph
    g.initializer.append(numpy_helper.from_array(np.array([1], dtype=np.int64), f"{p}axis"))
    g.node.extend([
        helper.make_node("LogSoftmax", [logits], [f"{p}logp"], name=f"{p}logp", axis=1),
        helper.make_node("Unsqueeze", [labels, f"{p}axis"], [f"{p}index"], name=f"{p}index"),
        helper.make_node("GatherElements", [f"{p}logp", f"{p}index"], [f"{p}picked"], name=f"{p}picked", axis=1),
        helper.make_node("ReduceMean", [f"{p}picked"], [f"{p}mean"], name=f"{p}mean", keepdims=0),
        helper.make_node("Neg", [f"{p}mean"], [f"{p}ce"], name=f"{p}ce"),
    ])
    if output:
        g.output.append(helper.make_tensor_value_info(f"{p}ce", types[logits][0], []))
    return f"{p}ce"
