"""Gradient proxies on tiny models: closed-form values, weight-set identification (shared weights,
Identity/Cast, MatMul biases), null-with-reason paths and the plan's run count."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

from onnxscore.errors import ProxyError
from onnxscore.proxies.gradient import GradientPlan, gradient_scores, names
from onnxscore.proxies.gradient import runner as runner_module
from onnxscore.proxies.gradient.weights import find_layers, weight_set
from tests.proxies.gradient.tiny import linear_model, linear_values, shared_mlp

N, C, D = 6, 4, 9
RNG = np.random.default_rng(7)
W = RNG.standard_normal((C, D)).astype(np.float32)
BIAS = (0.1 * RNG.standard_normal(C)).astype(np.float32)
X = RNG.standard_normal((N, D)).astype(np.float32)
Y = np.array([0, 3, 1, 1, 2, 0], np.int64)


@pytest.fixture(scope="module")
def linear_scores():
    return gradient_scores(linear_model(W, BIAS), X, Y, names())


@pytest.mark.parametrize("proxy", sorted(linear_values(W, BIAS, X, Y)))
def test_linear_model_matches_hand_derived_values(linear_scores, proxy):
    ref = linear_values(W, BIAS, X, Y)[proxy]
    got = linear_scores[proxy]
    assert got.reason is None and got.value == pytest.approx(ref, rel=1e-4), (got, ref)


def test_weight_set_follows_identity_and_cast_once_per_initializer():
    model, _ = shared_mlp(np.random.default_rng(0))
    layers = find_layers(model)
    assert [(la.node, la.weight, la.bias, la.out) for la in layers] == [
        ("mm1", "W1", "b1", "a1"), ("mm2", "W2", None, "m2"), ("mm3", "W2", None, "m3"), ("mm4", "W3", None, "logits")]
    assert weight_set(layers) == ["W1", "W2", "W3"]
    assert [la.fan_in for la in layers] == [4, 5, 5, 5]


def test_shared_weights_match_torch_summed_over_uses():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    model, p = shared_mlp(np.random.default_rng(1))
    x = np.random.default_rng(2).standard_normal((6, 4)).astype(np.float32)
    y = np.array([0, 1, 2, 2, 1, 0])
    got = gradient_scores(model, x, y, ["grad_norm", "snip", "fisher", "ntk_trace", "ntk_cond"])
    t = {k: torch.from_numpy(v).requires_grad_(True) for k, v in p.items()}

    def net(xs):
        a1 = xs @ t["W1"] + t["b1"]
        m2 = F.relu(a1) @ t["W2"]
        m3 = F.relu(m2) @ t["W2"]
        return [a1, m2, m3], m3 @ t["W3"]
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    acts, z = net(xt)
    for a in acts + [z]:
        a.retain_grad()
    F.cross_entropy(z, yt).backward()
    ws = [t["W1"], t["W2"], t["W3"]]
    assert got["grad_norm"].value == pytest.approx(sum(w.grad.norm().item() for w in ws), rel=1e-5)
    assert got["snip"].value == pytest.approx(sum((w * w.grad).abs().sum().item() for w in ws), rel=1e-5)
    fisher = sum((0.5 * (a * a.grad).double().pow(2).mean(0)).abs().sum().item() * fan
                 for a, fan in zip(acts + [z], [4, 5, 5, 5]))
    assert got["fisher"].value == pytest.approx(fisher, rel=1e-5)
    # no BN: a sample's share of the batch gradient is the gradient of its own term
    params = [t["W1"], t["b1"], t["W2"], t["W3"]]
    sq, rows = [], []
    for n in range(len(y)):
        _, zn = net(xt[n:n + 1])
        sq.append(sum(g.pow(2).sum().item() for g in torch.autograd.grad(zn[0, y[n]], params, retain_graph=True)))
        rows.append(torch.cat([g.flatten() for g in torch.autograd.grad(zn.sum(), ws)]))
    assert got["ntk_trace"].value == pytest.approx(np.sqrt(np.mean(sq)), rel=1e-5)
    j = torch.stack(rows).double()
    eig = torch.linalg.eigvalsh(j @ j.T)
    assert got["ntk_cond"].value == pytest.approx((eig[-1] / eig[0]).item(), rel=1e-4)


def test_an_op_without_gradient_rule_nulls_every_gradient_proxy_naming_it():
    model = linear_model(W, BIAS, [helper.make_node("Sin", ["z"], ["logits"], name="my_sin")])
    got = gradient_scores(model, X, Y, names())
    for proxy, score in got.items():
        if proxy == "l2_norm":  # reads the weights only
            assert score.value == pytest.approx(float(np.linalg.norm(W)), rel=1e-6)
            continue
        assert score.value is None and "Sin node 'my_sin'" in score.reason, (proxy, score)


def test_non_finite_values_are_null_with_a_reason():
    bad = W.copy()
    bad[1, 2] = np.nan
    got = gradient_scores(linear_model(bad, BIAS), X, Y, names())
    for proxy in ("ntk_cond", "ntk_trace"):  # a linear model's d(logits)/dW does not read W
        assert got.pop(proxy).value is not None
    for proxy, score in got.items():
        assert score.value is None and "non-finite" in score.reason, (proxy, score)


def test_proxies_needing_labels_are_null_without_them():
    got = gradient_scores(linear_model(W, BIAS), X, None, names())
    need = {"grad_norm", "snip", "plain", "grasp", "fisher", "ntk_trace", "zico"}
    for proxy, score in got.items():
        if proxy in need:
            assert score.value is None and "labels" in score.reason
        else:
            assert score.value is not None, (proxy, score)


def test_unknown_proxy_is_an_error():
    with pytest.raises(ProxyError, match="unknown gradient proxy"):
        gradient_scores(linear_model(W, BIAS), X, Y, ["nope"])


def test_all_proxies_share_runs(monkeypatch):
    calls = []
    real = runner_module.run_outputs
    monkeypatch.setattr(runner_module, "run_outputs", lambda *a: calls.append(1) or real(*a))
    model = linear_model(W, BIAS)
    together = GradientPlan(model, X, Y, names())
    together.scores()
    # four section graphs (loss, jacov, ntk_trace, halves), synflow, ntk_cond's forward + N backwards
    assert len(calls) == together.runner.runs == 6 + N
    assert together.runner.sessions == 7
    alone = 0
    for proxy in names():
        plan = GradientPlan(model, X, Y, [proxy])
        plan.scores()
        alone += plan.runner.runs
    assert together.runner.runs < alone
    assert together.runner.runs - (1 + N) < len(names())  # everything but ntk_cond's per-sample runs


def test_an_op_without_float64_kernel_nulls_synflow_only():
    # the Mul's backward reads the HardSigmoid's output, so the node (float only in onnxruntime) runs
    model = linear_model(W, BIAS, [helper.make_node("HardSigmoid", ["z"], ["h"], name="hs"),
                                   helper.make_node("Mul", ["z", "h"], ["logits"], name="mul")])
    got = gradient_scores(model, X, Y, ["synflow", "grad_norm"])
    assert got["synflow"].value is None and "float64 synflow graph" in got["synflow"].reason
    assert got["grad_norm"].value is not None


def test_registry_directions_and_needs():
    from onnxscore.proxies.gradient import get
    assert sorted(names()) == sorted(["grad_norm", "snip", "plain", "grasp", "synflow", "jacov", "fisher",
                                      "l2_norm", "ntk_trace", "ntk_cond", "zico"])
    assert [p for p in names() if not get(p).higher_is_better] == ["ntk_cond"]
    assert get("grasp").needs >= {"hvp"} and get("l2_norm").needs == {"weights_only"}
