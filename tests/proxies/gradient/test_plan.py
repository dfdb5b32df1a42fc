"""The plan's run layout: ntk_cond's weight-gradient windows hoisted into the part run once (same J as
without), and kept per sample when they would not fit the memory budget."""
from __future__ import annotations

import numpy as np
import onnx
import pytest

from onnxscore.proxies.gradient import GradientPlan
from onnxscore.proxies.gradient import plan as P
from onnxscore.proxies.gradient.fast_weight_grads import speed_up_weight_grads
from onnxscore.spaces import nb201

ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|skip_connect~2|"


@pytest.fixture(scope="module")
def model():
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(nb201, "N_CELLS", 1)
        return nb201.build_model(ARCH, "cifar10", seed=1)


def _jacobian(model, monkeypatch, budget):
    monkeypatch.setattr(P, "HOIST_BUDGET", budget)
    seen = []
    real = P.split_at_input
    monkeypatch.setattr(P, "split_at_input", lambda m, name: seen.append(m) or real(m, name))
    x = np.random.default_rng(0).standard_normal((6, 3, 32, 32)).astype(np.float32)
    plan = GradientPlan(model, x, None, ["ntk_cond"])
    plan.capture()
    left = onnx.ModelProto()
    left.CopyFrom(seen[-1])  # the graph that was split: how many weight-gradient Convs it still had
    return plan.captured.jacobian, speed_up_weight_grads(left), plan.runner.runs


def test_hoisted_windows_give_the_same_jacobian(model, monkeypatch):
    hoisted, left_hoisted, runs = _jacobian(model, monkeypatch, P.HOIST_BUDGET)
    plain, left_plain, _ = _jacobian(model, monkeypatch, 0)
    assert left_hoisted == 0 < left_plain  # the split graph had its weight-gradient Convs rewritten, or not
    assert runs == 1 + 6  # one run for the shared part, one per sample
    assert np.abs(hoisted - plain).max() <= 1e-5 * np.abs(plain).max()


def test_seeds_per_run_follows_the_provider():
    assert P.seeds_per_run(["CPUExecutionProvider"], 64) == 1
    assert P.seeds_per_run(["CUDAExecutionProvider", "CPUExecutionProvider"], 64) == P.GPU_SEEDS_PER_RUN
    assert P.seeds_per_run(["CUDAExecutionProvider", "CPUExecutionProvider"], 3) == 3


def test_batched_seed_runs_give_the_same_jacobian_in_fewer_runs(model, monkeypatch):
    # The GPU layout (vmap over the seed), run here on the CPU: 6 samples, 4 seeds per run -> 2 runs.
    one_by_one, _, _ = _jacobian(model, monkeypatch, P.HOIST_BUDGET)
    monkeypatch.setattr(P, "seeds_per_run", lambda providers, n: 4)
    batched, _, runs = _jacobian(model, monkeypatch, P.HOIST_BUDGET)
    assert runs == 1 + 2
    assert np.abs(batched - one_by_one).max() <= 1e-5 * np.abs(one_by_one).max()


def test_each_section_group_gets_its_own_graph_with_the_values_of_a_proxy_asked_alone(model, monkeypatch):
    x = np.random.default_rng(1).standard_normal((6, 3, 32, 32)).astype(np.float32)
    y = np.arange(6) % 10
    proxies = ["grad_norm", "grasp", "fisher", "jacov", "ntk_trace", "zico"]
    arenas = []
    real = P.Runner.session
    monkeypatch.setattr(P.Runner, "session", lambda self, m, runs=1, arena=True: arenas.append(arena) or
                        real(self, m, runs=runs, arena=arena))
    plan = GradientPlan(model, x, y, proxies)
    together = plan.scores()
    assert plan.runner.runs == 4  # loss (+HVP, fisher), jacov, ntk_trace, halves
    assert arenas == [True] * 4  # a small forward: the shared arena
    for p in proxies:
        alone = GradientPlan(model, x, y, [p]).scores()[p]
        assert together[p].reason is None and alone.value == pytest.approx(together[p].value, rel=1e-6), p


def test_a_large_forward_runs_its_graphs_without_the_arena(model, monkeypatch):
    arenas = []
    real = P.Runner.session
    monkeypatch.setattr(P.Runner, "session", lambda self, m, runs=1, arena=True: arenas.append(arena) or
                        real(self, m, runs=runs, arena=arena))
    monkeypatch.setattr(P, "ARENA_LIMIT_BYTES", 0)
    x = np.random.default_rng(1).standard_normal((6, 3, 32, 32)).astype(np.float32)
    scores = GradientPlan(model, x, np.arange(6) % 10, ["grad_norm", "jacov"]).scores()
    assert arenas == [False, False] and all(s.value is not None for s in scores.values())
