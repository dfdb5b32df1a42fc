"""Models as they come: external data, old opsets, fixed or symbolic dims, several inputs."""
from __future__ import annotations

import os

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import onnxscore
from onnxscore.errors import InputError
from tests.models import ConvNet, make_model

KW = dict(batch_size=8, proxies=None)


def _score(model, proxies=("naswot", "epads"), **kw):
    return onnxscore.score(model, list(proxies), batch_size=8, **kw).scores


def test_external_data_scores_like_inline_and_leaves_folder_untouched(tmp_path):
    model = ConvNet().onnx()
    inline = _score(model)
    path = tmp_path / "ext" / "net.onnx"
    path.parent.mkdir()
    onnx.save(model, path, save_as_external_data=True, all_tensors_to_one_file=True,
              location="net.data", size_threshold=0)
    before = {p: p.stat().st_mtime_ns for p in path.parent.iterdir()}
    assert _score(str(path)) == inline
    assert {p: p.stat().st_mtime_ns for p in path.parent.iterdir()} == before
    cwd = os.getcwd()
    try:  # relative paths from another working directory
        os.chdir(tmp_path)
        assert _score("ext/net.onnx") == inline
    finally:
        os.chdir(cwd)


def test_opset_11_model_scores_like_opset_17():
    assert _score(ConvNet(opset=11).onnx()) == pytest.approx(_score(ConvNet(opset=17).onnx()), rel=1e-9)


def test_fixed_batch_is_rebatched_when_possible():
    model = ConvNet().onnx()
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 1
    assert _score(model) == _score(ConvNet().onnx())


def test_fixed_batch_baked_into_reshape_is_a_clear_error():
    w = numpy_helper.from_array(np.ones((12, 2), np.float32), "w")
    shape = numpy_helper.from_array(np.array([4, 12], np.int64), "shape")
    nodes = [helper.make_node("Reshape", ["x", "shape"], ["f"]), helper.make_node("MatMul", ["f", "w"], ["h"]),
             helper.make_node("Relu", ["h"], ["y"])]
    m = make_model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 3, 2, 2])],
                   [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 2])], [w, shape])
    with pytest.raises(InputError, match="fixed batch of 4"):
        onnxscore.score(m, ["naswot"], batch_size=8)
    assert onnxscore.score(m, ["naswot"], batch_size=4).sites == 1  # B equal to the baked batch works


def test_symbolic_spatial_dims_need_input_shape():
    model = ConvNet().onnx()
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_param, dims[3].dim_param = "H", "W"
    with pytest.raises(InputError, match="--input-shape"):
        _score(model)
    assert _score(model, input_shape="3,6,6") == _score(ConvNet().onnx())
    with pytest.raises(InputError, match="contradicts|dims"):
        _score(ConvNet().onnx(), input_shape="3,7")


def test_several_inputs_need_input_name_and_the_other_is_fed():
    nodes = [helper.make_node("Add", ["a", "b"], ["s"]), helper.make_node("Relu", ["s"], ["y"])]
    m = make_model(nodes, [helper.make_tensor_value_info("a", TensorProto.FLOAT, ["N", 16]),
                           helper.make_tensor_value_info("b", TensorProto.FLOAT, ["N", 16])],
                   [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 16])], [])
    with pytest.raises(InputError, match="--input"):
        _score(m, ["naswot"])
    with pytest.raises(InputError, match="no input named"):
        _score(m, ["naswot"], input_name="c")
    assert _score(m, ["naswot"], input_name="a")["naswot"] is not None


def test_data_file_is_used_and_recorded(tmp_path):
    x = np.random.default_rng(3).standard_normal((20, 3, 6, 6)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    res = onnxscore.score(ConvNet().onnx(), ["naswot"], batch_size=8, data=str(tmp_path / "x.npy"))
    assert res.settings["data"] == str(tmp_path / "x.npy")
    assert res.scores == onnxscore.score(ConvNet().onnx(), ["naswot"], batch_size=8, data=x).scores


def test_bn_exported_keeps_inference_semantics_and_differs_from_batch():
    from tests.models import codes_of

    net = ConvNet(seed=4)
    x = np.random.default_rng(5).standard_normal((8, 3, 6, 6)).astype(np.float32)
    pre, _ = net.forward(x, bn="exported")
    got = onnxscore.Scorer(batch_size=8, data=x, bn="exported").capture(net.onnx())
    mism = sum(int((s.unpacked().astype(bool) != c).sum()) for s, c in zip(got, codes_of(pre)))
    assert mism == 0
    assert _score(net.onnx(), data=x, bn="exported") != _score(net.onnx(), data=x, bn="batch")


def test_model_bytes_and_proto_give_the_same_scores(tmp_path):
    m = ConvNet().onnx()
    p = tmp_path / "m.onnx"
    onnx.save(m, p)
    assert _score(m) == _score(m.SerializeToString()) == _score(str(p))


def test_user_model_proto_is_not_modified():
    m = ConvNet().onnx()
    before = m.SerializeToString()
    onnxscore.score(m, "all", batch_size=8, init="normal", mu=1, sigma_params=1)
    assert m.SerializeToString() == before


def test_a_scorer_builds_its_batch_once_and_every_model_sees_the_same_one(monkeypatch):
    """The input batch (and its noisy copy) is built once per input shape: same arrays for every model."""
    import onnxscore
    from onnxscore import scorer as scorer_mod

    calls = []
    real = scorer_mod.random_batch
    monkeypatch.setattr(scorer_mod, "random_batch", lambda *a: calls.append(a) or real(*a))
    sc = onnxscore.Scorer(batch_size=8)
    first = sc.score(ConvNet().onnx(), ["epads", "naswot"])
    again = sc.score(ConvNet().onnx(), ["epads", "naswot"])
    assert len(calls) == 1 and first.scores == again.scores
    fresh = onnxscore.Scorer(batch_size=8).score(ConvNet().onnx(), ["epads", "naswot"])
    assert fresh.scores == first.scores  # the cache changes nothing but time
    key, x, x2 = sc._input_cache
    assert not x.flags.writeable and not x2.flags.writeable and x2.shape[0] == 16
