"""synflow's graph (bn=False): BatchNormalization removed, |parameters|, float64, one all-ones
sample; R = sum of the logits and dR/dW for the weight set."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from onnxscore.graph.autodiff import append_backward
from onnxscore.graph.view import GraphView
from onnxscore.proxies.gradient.float64 import cast_to_double, rewrite_for_double
from onnxscore.proxies.gradient.weights import resolve
from onnxscore.proxies.gradient.writer import Writer

# inputs of these ops that hold parameters (made absolute); Add: its initializer operand, when it
# adds a bias to a Conv/Gemm/MatMul output
PARAM_INPUTS = {"Conv": (1, 2), "ConvTranspose": (1, 2), "Gemm": (0, 1, 2), "MatMul": (0, 1),
                "BatchNormalization": (1, 2, 3, 4), "LayerNormalization": (1, 2),
                "InstanceNormalization": (1, 2), "PRelu": (1,)}
LINEAR = frozenset({"Conv", "Gemm", "MatMul", "ConvTranspose"})


def parameters(model: onnx.ModelProto) -> set[str]:
    """The float initializers that are model parameters (not shape constants or literals)."""
    view = GraphView(model)
    producers = view.producer_nodes()
    out = set()
    for n in model.graph.node:
        picks = list(PARAM_INPUTS.get(n.op_type, ()))
        if n.op_type == "Add":
            picks = [k for k, i in enumerate(n.input)
                     if getattr(producers.get(n.input[1 - k]), "op_type", None) in LINEAR]
        for k in picks:
            if k < len(n.input) and n.input[k]:
                init = resolve(view, n.input[k])
                if init is not None:
                    out.add(init)
    return out


def remove_batch_norm(model: onnx.ModelProto) -> None:
    """Every BatchNormalization becomes Identity of its input (synflow's bn=False)."""
    for i, n in enumerate(model.graph.node):
        if n.op_type == "BatchNormalization":
            model.graph.node[i].CopyFrom(helper.make_node("Identity", [n.input[0]], [n.output[0]],
                                                          name=n.name or n.output[0]))


def build_synflow_graph(original: onnx.ModelProto, data: str, logits: str,
                        weights: list[str]) -> tuple[onnx.ModelProto, dict[str, str]]:
    """The float64 synflow model (data input shaped [1, *sample]) and {weight: dR/dW output}."""
    m = onnx.ModelProto()
    m.CopyFrom(original)
    absolute = parameters(m)
    for i, t in enumerate(m.graph.initializer):
        if t.name in absolute:
            m.graph.initializer[i].CopyFrom(numpy_helper.from_array(np.abs(numpy_helper.to_array(t)), t.name))
    remove_batch_norm(m)
    for v in m.graph.input:
        if v.name == data:
            dims = [d.dim_value for d in v.type.tensor_type.shape.dim]
            v.CopyFrom(helper.make_tensor_value_info(data, TensorProto.DOUBLE, [1] + dims[1:]))
    del m.graph.value_info[:]
    cast_to_double(m)
    rewrite_for_double(m)
    w = Writer(m, "onnxscore_gp_synflow_")
    r = w.reduce_sum(logits, None)
    grads = append_backward(m, r, weights, outputs=False)
    del m.graph.output[:]
    return m, {k: w.output(grads[k]) for k in weights}


def synflow_input(x: np.ndarray) -> np.ndarray:
    return np.ones((1,) + x.shape[1:], dtype=np.float64)
