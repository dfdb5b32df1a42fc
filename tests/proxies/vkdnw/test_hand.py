"""VKDNW pieces on a hand-made Conv+BN+Gemm model whose Jacobian is written out in numpy."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnxscore.proxies import vkdnw
from onnxscore.proxies.vkdnw import fisher as fi
from onnxscore.proxies.vkdnw.jacobian import jacobian
from onnxscore.proxies.vkdnw.params import find_params

EPS = 1e-3
RNG = np.random.default_rng(0)
W = RNG.standard_normal((2, 2, 2, 2)).astype(np.float32)
B = RNG.standard_normal(2).astype(np.float32)
S, BETA = np.array([1.5, -0.7], np.float32), np.array([0.3, 0.1], np.float32)
MEAN, VAR = np.array([0.2, -0.4], np.float32), np.array([2.0, 0.5], np.float32)
W2 = RNG.standard_normal((3, 8)).astype(np.float32)
C2 = RNG.standard_normal(3).astype(np.float32)


def model(training_bn: bool) -> onnx.ModelProto:
    inits = [numpy_helper.from_array(v, k) for k, v in dict(
        w=W, b=B, s=S, beta=BETA, mean=MEAN, var=VAR, w2=W2, c2=C2).items()]
    bn_out = ["h", "rm", "rv"] if training_bn else ["h"]
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["y"], kernel_shape=[2, 2]),
             helper.make_node("BatchNormalization", ["y", "s", "beta", "mean", "var"], bn_out, epsilon=EPS,
                              training_mode=int(training_bn)),
             helper.make_node("Flatten", ["h"], ["f"], axis=1),
             helper.make_node("Gemm", ["f", "w2", "c2"], ["z"], transB=1)]
    g = helper.make_graph(nodes, "hand", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 2, 3, 3])],
                          [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["n", 3])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 10
    return m


def hand_jacobian(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(logits, J) with BN in eval mode, parameters w, b, s, beta, w2, c2 at flat index 0."""
    n = len(x)
    y = np.zeros((n, 2, 2, 2))
    for i in range(2):
        for j in range(2):
            y[:, :, i, j] = np.einsum("ncab,ocab->no", x[:, :, i:i + 2, j:j + 2], W)
    y += B[None, :, None, None]
    k = S / np.sqrt(VAR + EPS)
    xhat = (y - MEAN[None, :, None, None]) / np.sqrt(VAR + EPS)[None, :, None, None]
    h = xhat * S[None, :, None, None] + BETA[None, :, None, None]
    f = h.reshape(n, 8)
    z = f @ W2.T + C2
    w0 = W2[:, 0:4]  # the classifier columns reading BN channel 0
    jac = np.zeros((n, 3, 6))
    jac[:, :, 0] = (k[0] * x[:, 0, :2, :2].reshape(n, 4)) @ w0.T
    jac[:, :, 1] = k[0] * w0.sum(1)
    jac[:, :, 2] = xhat[:, 0].reshape(n, 4) @ w0.T
    jac[:, :, 3] = w0.sum(1)
    jac[:, 0, 4] = f[:, 0]
    jac[:, 0, 5] = 1.0
    return z, jac


@pytest.mark.parametrize("training_bn", [False, True])
def test_jacobian_by_hand(training_bn):
    m = model(training_bn)
    x = RNG.standard_normal((4, 2, 3, 3)).astype(np.float32)
    params = find_params(m)
    assert [p.name for p in params] == ["w", "b", "s", "beta", "w2", "c2"]
    z, jac = jacobian(m, params, x)
    z_want, jac_want = hand_jacobian(x)
    np.testing.assert_allclose(z, z_want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(jac, jac_want, rtol=1e-5, atol=1e-5)
    res = vkdnw.compute(m, x)
    assert res.reason is None and res.dim == 6
    q = fi.deciles(fi.spectrum(fi.fisher(z_want, jac_want)))
    np.testing.assert_allclose(res.deciles, q, rtol=1e-4, atol=1e-9)


def test_cholesky_back_test():
    """Their own check: L L^T = diag(p) - p p^T for the smoothed p, within their 1e-3; the last
    column of L is 0. The float16 smoothing makes sum(p) = 1.00017 (C = 10), which only the last
    diagonal entry sees: the rest holds to rounding."""
    z = RNG.standard_normal((6, 10)) * 4
    lower = fi.cholesky_covariance(z)
    e = np.exp(z - z.max(1, keepdims=True))
    p = e / e.sum(1, keepdims=True) * 0.9501953125 + 0.00499725341796875  # float16 1 - 0.05, 0.05 / 10
    cov = np.einsum("nc,cd->ncd", p, np.eye(10)) - p[:, :, None] * p[:, None, :]
    got = lower @ np.transpose(lower, (0, 2, 1))
    assert np.abs(got - cov).max() < 1e-3
    np.testing.assert_allclose(got[:, :-1, :], cov[:, :-1, :], atol=1e-12)
    np.testing.assert_allclose(got[:, :, :-1], cov[:, :, :-1], atol=1e-12)
    assert np.all(lower[:, :, -1] == 0) and np.allclose(np.triu(lower, 1), 0)


def test_entropy_and_failed_svd():
    assert fi.entropy(fi.deciles(fi.spectrum(np.full((3, 3), np.nan)))) == 0.0
    q = np.arange(1.0, 10.0)
    t = q / (q.sum() + 1e-10)
    assert abs(fi.entropy(q) - float(-(t * np.log(t + 1e-10)).sum())) < 1e-12
    np.testing.assert_allclose(fi.deciles(np.arange(11.0)), np.arange(1.0, 10.0), rtol=1e-6)


def test_unsupported_op_gives_reason():
    m = model(False)
    m.graph.node.insert(1, helper.make_node("Mod", ["y", "y"], ["y_m"], fmod=1))  # on the gradient path
    m.graph.node[2].input[0] = "y_m"
    res = vkdnw.compute(m, RNG.standard_normal((2, 2, 3, 3)).astype(np.float32))
    assert res.entropy is None and res.dim == 6 and "Mod" in res.reason
