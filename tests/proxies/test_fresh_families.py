"""AZ-NAS's and VKDNW's proxies through the scorer: the authors' fresh network and random batch, one
shared computation per family, settings that say so, and the closed-form size term."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import numpy_helper

import onnxscore
from onnxscore.proxies import aznas, vkdnw
from onnxscore.proxies.fresh import fresh_network, random_batch
from onnxscore.spaces import nb201

ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|skip_connect~2|"
AZ = ["az_expressivity", "az_progressivity", "az_trainability"]


@pytest.fixture(scope="module")
def small():
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(nb201, "N_CELLS", 1)
        return nb201.build_model(ARCH, "cifar10", seed=4)


def _inits(m):
    return {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}


def test_fresh_network_is_the_authors_init_and_leaves_the_model_alone(small):
    before = small.SerializeToString()
    fresh = fresh_network(small, 3)
    assert small.SerializeToString() == before
    w = _inits(fresh)
    conv = w["cells.0.layers.0.op.1.weight"]  # 16 x 16 x 3 x 3: std sqrt(2 / 144)
    assert abs(conv.std() - np.sqrt(2 / 144)) < 0.1 * np.sqrt(2 / 144)
    assert not np.array_equal(conv, _inits(small)["cells.0.layers.0.op.1.weight"])
    assert np.all(w["classifier.bias"] == 0)
    for name in ("stem.1", "cells.0.layers.0.op.2"):
        assert np.all(w[f"{name}.weight"] == 1) and np.all(w[f"{name}.bias"] == 0)
        assert np.all(w[f"{name}.running_mean"] == 0) and np.all(w[f"{name}.running_var"] == 1)
    again = _inits(fresh_network(small, 3))
    assert all(np.array_equal(again[k], w[k]) for k in w)  # from the seed


def test_scorer_feeds_the_fresh_network_and_one_computation_serves_the_family(small, monkeypatch):
    calls = []
    real = aznas.compute

    def counted(*a, **k):
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(aznas, "compute", counted)
    res = onnxscore.score(small, proxies=AZ, seed=5, grad_batch_size=16)
    assert len(calls) == 1
    want = real(fresh_network(small, 5), random_batch((3, 32, 32), 16, 5), seed=5)
    for p in AZ:
        assert res.scores[p] == pytest.approx(getattr(want, p.removeprefix("az_")), rel=1e-6)
    assert "kaiming-normal fan_in" in res.settings["fresh_network"] and res.settings["fresh_batch_size"] == 16


def test_vkdnw_through_the_scorer_equals_the_direct_computation(small):
    res = onnxscore.score(small, proxies=["vkdnw_entropy", "vkdnw_dim"], seed=2, grad_batch_size=8)
    want = vkdnw.compute(fresh_network(small, 2), random_batch((3, 32, 32), 8, 2))
    assert res.scores["vkdnw_entropy"] == pytest.approx(want.entropy, rel=1e-6)
    assert res.scores["vkdnw_dim"] == want.dim == 21 + 9 * 3  # 3 conv edges, one cell per stage


@pytest.mark.parametrize("arch,k", [(ARCH, 3), ("|none~0|+|skip_connect~0|none~1|+|none~0|none~1|skip_connect~2|", 0)])
def test_vkdnw_dim_is_the_parameter_tensor_count(arch, k):
    res = onnxscore.score(nb201.build_model(arch), proxies=["vkdnw_dim"])
    assert res.scores["vkdnw_dim"] == 21 + 45 * k


def test_an_undefined_component_is_a_null_with_the_authors_reason():
    only_skip = "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"  # every cell returns its input
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(nb201, "N_CELLS", 1)
        m = nb201.build_model(only_skip)
    res = onnxscore.score(m, proxies=AZ, grad_batch_size=8)
    assert res.scores["az_trainability"] is None and "-inf" in res.errors["az_trainability"]
    assert res.scores["az_expressivity"] is not None
