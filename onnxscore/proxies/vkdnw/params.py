"""VKDNW's parameter tensors: PyTorch's named_parameters() read off an ONNX graph.

A parameter tensor is a float initializer read (directly or through Identity/Cast) as a weight or
bias of Conv/ConvTranspose/Gemm/MatMul (a MatMul's bias is the initializer of the lone Add after
it), or as scale/bias of BatchNormalization/LayerNormalization. Order: first use in execution order
(weight before bias within a node), each initializer once: on NB201 this is named_parameters() order."""
from __future__ import annotations

from dataclasses import dataclass

import onnx

from onnxscore.graph.view import GraphView
from onnxscore.proxies.gradient.weights import _bias_add, resolve

# op -> input slots holding parameters, in PyTorch's registration order (weight, then bias)
SLOTS = {"Conv": (1, 2), "ConvTranspose": (1, 2), "Gemm": (0, 1, 2), "MatMul": (0, 1),
         "BatchNormalization": (1, 2), "LayerNormalization": (1, 2)}


@dataclass(frozen=True)
class Use:
    """One read of a parameter: node `node` (index into graph.node) reads it at input `slot`;
    `kind` is the node's op type, or "MatMulBias" for the Add that adds a MatMul's bias."""

    node: int
    slot: int
    kind: str


@dataclass(frozen=True)
class Param:
    name: str  # the initializer
    uses: tuple[Use, ...]


def find_params(model: onnx.ModelProto) -> list[Param]:
    """Every parameter tensor with all its uses, in first-use order."""
    view = GraphView(model)
    uses: dict[str, list[Use]] = {}
    for i in view.order:
        n = view.graph.node[i]
        if n.domain not in ("", "ai.onnx") or n.op_type not in SLOTS:
            continue
        for slot in SLOTS[n.op_type]:
            if slot < len(n.input) and n.input[slot]:
                w = resolve(view, n.input[slot])
                if w is not None:
                    uses.setdefault(w, []).append(Use(i, slot, n.op_type))
        if n.op_type == "MatMul":
            bias, out = _bias_add(view, n.output[0])
            if bias is not None:
                add = view.producer[out]
                slot = 0 if resolve(view, view.graph.node[add].input[0]) == bias else 1
                uses.setdefault(bias, []).append(Use(add, slot, "MatMulBias"))
    return [Param(k, tuple(v)) for k, v in uses.items()]


def dim(model: onnx.ModelProto) -> int:
    """vkdnw_dim: the number of parameter tensors, len(list(model.named_parameters()))."""
    return len(find_params(model))
