"""layers: the number of trainable layers (Conv, ConvTranspose, Gemm, MatMul with a weight operand).

A free baseline from the graph alone, in the spirit of VKDNW's "number of trainable layers" (its code counts
parameter tensors; on NAS-Bench-201 both are affine in the number of convolution edges, so they rank alike).
"""
from __future__ import annotations

from onnxscore.proxies.registry import register
from onnxscore.proxies.structure import trainable_layers


@register("layers", "number of trainable layers (Conv/Gemm/MatMul with a weight), from the graph, no run",
          needs=("graph",))
def layers(model, ctx) -> float:
    return float(len(trainable_layers(model.graph)))
