"""flops: multiply-accumulates per sample of Conv/ConvTranspose/Gemm/MatMul (onnxscore.edge.macs).

NAS papers' "FLOPs" of a CNN count these multiply-accumulates; AZ-NAS and VKDNW read NB201's from NATS-Bench's
table (not in the shared data, so not compared here). NASLib's counter adds BN, ReLU and pooling element
costs and is larger. A free baseline from the graph alone.
"""
from __future__ import annotations

from onnxscore.errors import ProxyError
from onnxscore.proxies.registry import register


@register("flops", "multiply-accumulates per sample (Conv/Gemm/MatMul), from the graph, no run",
          needs=("graph",))
def flops(model, ctx) -> float:
    from onnxscore.edge.macs import count_macs

    shape = getattr(ctx.settings, "input_shape", None) if ctx.settings is not None else None
    report = count_macs(model, shape)
    if report.unknown:
        raise ProxyError(f"flops: the shapes of {', '.join(report.unknown[:3])} are unknown; pass --input-shape")
    return float(report.total)
