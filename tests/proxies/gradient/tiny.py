"""Tiny ONNX models for the gradient proxies, with closed-form (hand-derived) values."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

K = 1e-5


def linear_model(w: np.ndarray, b: np.ndarray, after: list[onnx.NodeProto] | None = None) -> onnx.ModelProto:
    """logits = x W^T + b (a Gemm, transB=1); `after` nodes may rewrite "z" into "logits"."""
    c, d = w.shape
    nodes = [helper.make_node("Gemm", ["x", "W", "b"], ["z" if after else "logits"], name="fc", transB=1)]
    nodes += after or []
    g = helper.make_graph(nodes, "linear", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", d])],
                          [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", c])],
                          [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "b")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 10
    return m


def softmax(z):
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def ce_grads(w, b, x, y):
    """(dL/dW, G = dL/dz, z, P) of the mean CE of logits x W^T + b."""
    z = x @ w.T + b
    p = softmax(z)
    g = (p - np.eye(w.shape[0])[y]) / len(y)
    return g.T @ x, g, z, p


def linear_values(w, b, x, y) -> dict[str, float]:
    """Every proxy of GRADIENTS.md for the linear model, derived by hand (float64)."""
    w, b, x = (a.astype(np.float64) for a in (w, b, x))
    n, c = len(y), w.shape[0]
    gw, g, z, p = ce_grads(w, b, x, y)
    dz = x @ gw.T  # the logits' change along V = dL/dW
    dp = np.einsum("nij,nj->ni", np.einsum("ni,ij->nij", p, np.eye(c)) - np.einsum("ni,nj->nij", p, p), dz)
    h = (dp / n).T @ x
    k = c * (x @ x.T)
    eig = np.linalg.eigvalsh(k)
    jac_eig = np.linalg.eigvalsh(np.ones((n, n)))
    half = n // 2
    g1, g2 = ce_grads(w, b, x[:half], y[:half])[0], ce_grads(w, b, x[half:], y[half:])[0]
    std, mean = np.abs(g1 - g2) / 2, (np.abs(g1) + np.abs(g2)) / 2
    return {
        "grad_norm": np.linalg.norm(gw), "snip": np.abs(w * gw).sum(), "plain": (w * gw).sum(),
        "grasp": -(w * h).sum(), "l2_norm": np.linalg.norm(w),
        "fisher": np.abs(0.5 * ((z * g) ** 2).mean(0)).sum() * w.shape[1],
        "ntk_trace": np.sqrt(np.mean((x ** 2).sum(1) + 1.0)),
        "ntk_cond": eig[-1] / eig[0],
        "jacov": -np.sum(np.log(jac_eig + K) + 1 / (jac_eig + K)),
        "synflow": np.log(np.abs(w).sum()),
        "zico": np.log(np.sum(mean[std != 0] / std[std != 0])),
    }


def shared_mlp(rng) -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    """x -> MatMul W1 + b1 -> Relu -> MatMul Identity(W2) -> Relu -> MatMul Cast(W2) -> MatMul W3:
    W2 used twice (through Identity and Cast), a MatMul bias Add."""
    p = {"W1": rng.standard_normal((4, 5)), "b1": rng.standard_normal(5) * 0.1,
         "W2": rng.standard_normal((5, 5)) * 0.5, "W3": rng.standard_normal((5, 3))}
    p = {k: v.astype(np.float32) for k, v in p.items()}
    nodes = [helper.make_node("MatMul", ["x", "W1"], ["m1"], name="mm1"),
             helper.make_node("Add", ["m1", "b1"], ["a1"], name="bias1"),
             helper.make_node("Relu", ["a1"], ["r1"]),
             helper.make_node("Identity", ["W2"], ["W2_id"]),
             helper.make_node("MatMul", ["r1", "W2_id"], ["m2"], name="mm2"),
             helper.make_node("Relu", ["m2"], ["r2"]),
             helper.make_node("Cast", ["W2"], ["W2_cast"], to=TensorProto.FLOAT),
             helper.make_node("MatMul", ["r2", "W2_cast"], ["m3"], name="mm3"),
             helper.make_node("MatMul", ["m3", "W3"], ["logits"], name="mm4")]
    g = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
                          [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 3])],
                          [numpy_helper.from_array(v, k) for k, v in p.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 10
    return m, p
