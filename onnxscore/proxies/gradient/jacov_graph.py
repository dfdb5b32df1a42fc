"""jacov's section: the input gradient of the sum of all logits (train-mode BN couples the rows)."""
from __future__ import annotations

import onnx

from onnxscore.graph.autodiff import append_backward
from onnxscore.proxies.gradient.writer import Writer


def add_jacov_section(model: onnx.ModelProto, logits: str, data: str) -> str:
    grads = append_backward(model, logits, [data], outputs=False)  # seed None: all ones
    return Writer(model, "onnxscore_gp_jacov_").output(grads[data])
