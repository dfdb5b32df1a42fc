"""ntk_cond's graph (TE-NAS): train-mode forward, then the VJP of the logits with a seed input, so
that seed = e_i 1^T gives J_i = d(sum_c f_ic)/d theta for every "weight" parameter, flattened into one
[P] output. The plan runs it once per sample on one session (exact per-sample backward passes)."""
from __future__ import annotations

import onnx

from onnxscore.graph.autodiff import append_backward
from onnxscore.proxies.gradient.writer import Writer

SEED = "onnxscore_gradient_ntk_seed"


def build_ntk_cond_graph(train: onnx.ModelProto, logits: str, params: list[str]) -> tuple[onnx.ModelProto, str]:
    """A copy of `train` with the seed input SEED (shaped like the logits); its J output's name."""
    m = onnx.ModelProto()
    m.CopyFrom(train)
    grads = append_backward(m, logits, params, seed=SEED, outputs=False)
    w = Writer(m, "onnxscore_gp_ntk_cond_")
    flat = [w.op("Reshape", [grads[p], w.ints([-1])]) for p in params]
    j = flat[0] if len(flat) == 1 else w.op("Concat", flat, axis=0)
    del m.graph.output[:]
    return m, w.output(j)
