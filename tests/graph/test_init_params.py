"""Seeded re-initialisation and the parameter count."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper

from onnxscore.graph.init import lift_constants, redraw
from onnxscore.graph.params import count_params
from tests.models import ConvNet


def _weights(model):
    return {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}


def test_count_params_excludes_bn_running_stats():
    net = ConvNet(c=6, classes=3)
    expected = net.w1.size + net.w2.size + 2 * 6 + net.wf.size + net.wo.size
    assert count_params(net.onnx()) == expected


def test_normal_redraw_is_seeded_and_standard_normal():
    a, b, c = ConvNet().onnx(), ConvNet().onnx(), ConvNet().onnx()
    assert redraw(a, "normal", 5) == 4  # w1, w2, wf, wo
    redraw(b, "normal", 5)
    redraw(c, "normal", 6)
    wa, wb, wc = _weights(a), _weights(b), _weights(c)
    assert all(np.array_equal(wa[k], wb[k]) for k in wa)
    assert not np.array_equal(wa["w2"], wc["w2"])
    assert abs(wa["w2"].std() - 1) < 0.15 and np.array_equal(wa["scale"], ConvNet().scale)


def test_kaiming_redraw_uses_fan_in():
    m = ConvNet(c=6).onnx()
    redraw(m, "kaiming", 0)
    w2 = _weights(m)["w2"]
    assert abs(w2.std() - np.sqrt(2 / (6 * 9))) < 0.05


def test_constants_lift_to_initializers_for_counting_and_redraw():
    m = ConvNet().onnx()
    w = next(t for t in m.graph.initializer if t.name == "w2")
    m.graph.initializer.remove(w)
    m.graph.node.insert(0, onnx.helper.make_node("Constant", [], ["w2"], value=w))
    assert count_params(m) == count_params(ConvNet().onnx())
    assert lift_constants(m) == 1 and "w2" in _weights(m)
