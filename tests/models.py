"""Tiny ONNX models built with onnx.helper, each with a NumPy forward to check onnxscore against."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def make_model(nodes, inputs, outputs, inits, opset=17) -> onnx.ModelProto:
    g = helper.make_graph(nodes, "tiny", inputs, outputs, inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 10 if opset >= 13 else 7
    onnx.checker.check_model(m)
    return m


def conv2d(x, w, pad):
    """Plain NumPy NCHW convolution, stride 1 (the independent reference)."""
    n, c, h, wd = x.shape
    o, _, k, _ = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    ho, wo = h + 2 * pad - k + 1, wd + 2 * pad - k + 1
    out = np.zeros((n, o, ho, wo), dtype=np.float64)
    for i in range(k):
        for j in range(k):
            patch = xp[:, :, i : i + ho, j : j + wo]
            out += np.einsum("nchw,oc->nohw", patch, w[:, :, i, j])
    return out


def bn_batch(x, scale, bias, eps=1e-5):
    """BatchNorm with the statistics of the batch (biased variance, as PyTorch train mode)."""
    axes = (0,) + tuple(range(2, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return (x - mean) / np.sqrt(var + eps) * scale.reshape(shape) + bias.reshape(shape)


class ConvNet:
    """Conv-BN-Relu -> Conv-Relu -> GAP -> MatMul-Relu -> MatMul: 2 conv sites, 1 FC site."""

    def __init__(self, seed=0, c=6, hw=6, classes=3, opset=17, bn=True):
        rng = np.random.default_rng(seed)
        self.w1 = (rng.standard_normal((c, 3, 3, 3)) * 0.4).astype(np.float32)
        self.w2 = (rng.standard_normal((c, c, 3, 3)) * 0.3).astype(np.float32)
        self.scale = (1 + 0.1 * rng.standard_normal(c)).astype(np.float32)
        self.bias = (0.1 * rng.standard_normal(c)).astype(np.float32)
        self.wf = rng.standard_normal((c, 5)).astype(np.float32)
        self.wo = rng.standard_normal((5, classes)).astype(np.float32)
        self.c, self.hw, self.classes, self.opset, self.bn = c, hw, classes, opset, bn

    def onnx(self) -> onnx.ModelProto:
        c = self.c
        inits = [numpy_helper.from_array(a, n) for a, n in (
            (self.w1, "w1"), (self.w2, "w2"), (self.scale, "scale"), (self.bias, "bias"),
            (np.zeros(c, np.float32), "mean"), (np.ones(c, np.float32), "var"),
            (self.wf, "wf"), (self.wo, "wo"))]
        nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1])]
        if self.bn:
            nodes.append(helper.make_node("BatchNormalization", ["c1", "scale", "bias", "mean", "var"], ["b1"]))
        nodes += [
            helper.make_node("Relu", ["b1" if self.bn else "c1"], ["r1"]),
            helper.make_node("Conv", ["r1", "w2"], ["c2"], pads=[1, 1, 1, 1]),
            helper.make_node("Relu", ["c2"], ["r2"]),
            helper.make_node("GlobalAveragePool", ["r2"], ["g"]),
            helper.make_node("Flatten", ["g"], ["f"]),
            helper.make_node("MatMul", ["f", "wf"], ["h"]),
            helper.make_node("Relu", ["h"], ["r3"]),
            helper.make_node("MatMul", ["r3", "wo"], ["y"]),
        ]
        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, self.hw, self.hw])
        y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", self.classes])
        return make_model(nodes, [x], [y], inits, self.opset)

    def forward(self, x, bn="batch"):
        """Pre-activations of the three sites (float64) and the output, computed in NumPy."""
        c1 = conv2d(x.astype(np.float64), self.w1, 1)
        if self.bn:
            if bn == "batch":
                c1 = bn_batch(c1, self.scale, self.bias)
            else:  # running stats mean 0, var 1
                c1 = c1 / np.sqrt(1 + 1e-5) * self.scale.reshape(1, -1, 1, 1) + self.bias.reshape(1, -1, 1, 1)
        r1 = np.maximum(c1, 0)
        c2 = conv2d(r1, self.w2, 1)
        r2 = np.maximum(c2, 0)
        h = r2.mean(axis=(2, 3)) @ self.wf
        y = np.maximum(h, 0) @ self.wo
        return [c1, c2, h], y


def codes_of(pre: list[np.ndarray]) -> list[np.ndarray]:
    """Binary codes C_l = 1[h_l > 0], flattened per sample."""
    return [(p > 0).reshape(p.shape[0], -1) for p in pre]
