"""Exposing sites adds boolean outputs and leaves the model's own outputs unchanged."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort

from onnxscore.graph.expose import expose_sites
from onnxscore.graph.sites import find_sites
from onnxscore.graph.view import GraphView
from tests.models import ConvNet


def _run(model, x, names=None):
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(names, {"x": x})


def test_original_outputs_keep_their_values_and_sites_are_signs():
    net = ConvNet(seed=2, bn=False)
    model = net.onnx()
    x = np.random.default_rng(0).standard_normal((5, 3, 6, 6)).astype(np.float32)
    before = _run(model, x)[0]
    work = onnx.ModelProto()
    work.CopyFrom(model)
    names = expose_sites(work, find_sites(GraphView(work)))
    outs = _run(work, x)
    np.testing.assert_array_equal(outs[0], before)
    assert [o.name for o in work.graph.output] == ["y", *names]
    pre, _ = net.forward(x)
    for got, p in zip(outs[1:], pre):
        assert got.dtype == np.bool_
        np.testing.assert_array_equal(got, p > 0)
    assert len(model.graph.output) == 1  # the caller's model was not touched


def test_relu_feeding_the_graph_output_is_a_site_and_output_unchanged():
    from onnx import TensorProto, helper
    from tests.models import make_model

    m = make_model([helper.make_node("Relu", ["x"], ["y"])],
                   [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
                   [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])], [])
    x = np.array([[-1, 0.5, 2]], np.float32)
    names = expose_sites(m, find_sites(GraphView(m)))
    y, code = _run(m, x)
    np.testing.assert_array_equal(y, np.maximum(x, 0))
    np.testing.assert_array_equal(code, x > 0)
    assert names == ["onnxscore_site_0"]


def test_bits_packed_in_graph_equal_numpy_packbits():
    """The memory plan's in-graph packing gives the very codes of the boolean path."""
    import onnxscore
    from onnxscore.graph.expose import site_shapes

    net = ConvNet(seed=3, hw=7)  # 6*7*7 = 294 units: not a multiple of 8, exercises the padding
    x = np.random.default_rng(1).standard_normal((9, 3, 7, 7)).astype(np.float32)
    as_bool = onnxscore.Scorer(batch_size=9, data=x, pack=False).capture(net.onnx())
    packed = onnxscore.Scorer(batch_size=9, data=x, pack=True).capture(net.onnx())
    for a, b in zip(as_bool, packed):
        assert a.units == b.units and a.conv == b.conv
        np.testing.assert_array_equal(a.bits, b.bits)
    m = net.onnx()
    assert site_shapes(m, "x", (3, 7, 7), find_sites(GraphView(m))) == [(6, 7, 7), (6, 7, 7), (5,)]


def test_pack_is_chosen_only_over_the_memory_budget():
    import onnxscore

    s = onnxscore.Scorer(batch_size=128, pack_budget_mb=1)
    assert s._pack_in_graph([4096, 4096]) is True  # 2*128*8192 bytes = 2 MiB > 1 MiB
    assert s._pack_in_graph([1024]) is False
    assert s._pack_in_graph([None, 4096]) is False  # unknown shapes: boolean outputs
