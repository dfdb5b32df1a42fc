"""What a structural proxy reads: the model's own graph (no run), and which tensors of it are weights."""
from __future__ import annotations

import onnx

# ops that pass a weight through unchanged in value (exporters put them between an initializer and its layer)
WEIGHT_VIEWS = {"Identity", "Transpose", "Cast", "Reshape", "Unsqueeze", "Squeeze", "DequantizeLinear"}
LAYER_OPS = {"Conv", "ConvTranspose", "Gemm", "MatMul"}


def weight_names(graph: onnx.GraphProto) -> set[str]:
    """Initializers and Constant outputs, and what WEIGHT_VIEWS make of them (in execution order)."""
    weights = {i.name for i in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            weights.update(node.output)
        elif node.op_type in WEIGHT_VIEWS and node.input and node.input[0] in weights:
            weights.update(node.output)
    return weights


def trainable_layers(graph: onnx.GraphProto) -> list[onnx.NodeProto]:
    """Conv/ConvTranspose/Gemm/MatMul nodes that multiply by a weight (not two activations)."""
    weights = weight_names(graph)
    return [n for n in graph.node if n.op_type in LAYER_OPS and n.domain in ("", "ai.onnx")
            and any(i in weights for i in n.input[:2])]
