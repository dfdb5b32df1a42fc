"""The affine-head path (H passes on the classifier's input) gives the per-class path's J (C passes)."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import helper, numpy_helper

from onnxscore.proxies.vkdnw.head import find_head
from onnxscore.proxies.vkdnw.jacobian import jacobian, usable_head
from onnxscore.proxies.vkdnw.params import find_params
from onnxscore.spaces import nb201

ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|skip_connect~2|"


@pytest.fixture(scope="module")
def net():
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(nb201, "N_CELLS", 1)
        model = nb201.build_model(ARCH, "cifar10", seed=2, num_classes=100)
    x = np.random.default_rng(7).standard_normal((4, 3, 32, 32)).astype(np.float32)
    return model, x


def as_matmul_add(model):
    """The same net with its Gemm(h, W, b, transB=1) head written as Add(MatMul(h, W^T), b)."""
    m = model.__class__()
    m.CopyFrom(model)
    gemm = m.graph.node[-1]
    h, w, b = gemm.input
    init = next(t for t in m.graph.initializer if t.name == w)
    init.CopyFrom(numpy_helper.from_array(np.ascontiguousarray(numpy_helper.to_array(init).T), w))
    del m.graph.node[-1]
    m.graph.node.extend([helper.make_node("MatMul", [h, w], ["mm"]),
                         helper.make_node("Add", ["mm", b], [gemm.output[0]])])
    return m


@pytest.mark.parametrize("form", ["gemm", "matmul_add"])
@pytest.mark.parametrize("max_tensors", [5, 1000])
def test_head_path_equals_per_class_path(net, form, max_tensors):
    model, x = net
    model = model if form == "gemm" else as_matmul_add(model)
    head = usable_head(model)
    assert head is not None and (head.width, head.classes) == (64, 100)
    params = find_params(model)
    params = params[:max_tensors] if max_tensors < len(params) else params
    z1, j1 = jacobian(model, params, x, penultimate=False)
    z2, j2 = jacobian(model, params, x)
    np.testing.assert_array_equal(z1, z2)
    scale = np.abs(j1).max(axis=(0, 1), keepdims=True)  # per parameter: their magnitudes differ widely
    assert np.abs(j2 - j1).max() / scale.max() < 1e-5
    assert (np.abs(j2 - j1) / scale).max() < 1e-5
    if max_tensors == 1000:  # the head's own weight and bias are in the closed-form columns
        assert params[-2].name == head.weight and params[-1].name == head.bias


def test_only_parameters_of_the_head(net):
    model, x = net
    params = [p for p in find_params(model) if p.name.startswith("classifier")]
    z1, j1 = jacobian(model, params, x, penultimate=False)
    z2, j2 = jacobian(model, params, x)
    np.testing.assert_allclose(j2, j1, rtol=1e-6, atol=1e-7)


def test_no_head_when_not_narrower_or_shared(net):
    model, _ = net
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(nb201, "N_CELLS", 1)
        assert usable_head(nb201.build_model(ARCH, "cifar10")) is None  # C = 10 < H = 64
    m = model.__class__()
    m.CopyFrom(model)
    w = m.graph.node[-1].input[1]
    m.graph.node.append(helper.make_node("Identity", [w], ["w_again"]))
    m.graph.output.append(helper.make_tensor_value_info("w_again", 1, None))
    assert find_head(m) is None  # the weight is read elsewhere: not a head of its own


def test_lean_backward_gives_the_same_jacobian(net, monkeypatch):
    """The factors cut out of the backward (factors.py) and the Where -> Mul masks (masks.py) change
    the backward part's cost, not J."""
    import importlib
    jm = importlib.import_module("onnxscore.proxies.vkdnw.jacobian")
    model, x = net
    params = find_params(model)
    once, per_pass, *_ = jm.build(model, params, x)
    assert not [n for n in per_pass.graph.node if n.op_type in ("Where", "Pad")]  # ReLU masks; Slice backward
    z1, j1 = jacobian(model, params, x, penultimate=False)
    monkeypatch.setattr(jm.fa, "cut", lambda m, factors, types=None: [])
    monkeypatch.setattr(jm, "where_to_mul", lambda *a, **k: 0)
    _, fat, *_ = jm.build(model, params, x)
    assert len(fat.graph.node) > len(per_pass.graph.node)
    z2, j2 = jacobian(model, params, x, penultimate=False)
    np.testing.assert_array_equal(z1, z2)
    np.testing.assert_allclose(j1, j2, rtol=1e-6, atol=1e-6 * np.abs(j2).max())
