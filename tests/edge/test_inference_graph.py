"""Latency is timed on the inference form of a scoring graph (BatchNorm on running statistics)."""
from __future__ import annotations

import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnxscore.edge.inference_graph import MOMENTS_KEY, inference_graph
from onnxscore.edge.latency import measure_latency


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    s = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return s.run(None, {s.get_inputs()[0].name: x})[0]


def _bn_model(training_mode: int) -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "w"),
             numpy_helper.from_array(np.full(4, 2.0, np.float32), "g"),
             numpy_helper.from_array(np.full(4, 0.5, np.float32), "b"),
             numpy_helper.from_array(np.full(4, 0.1, np.float32), "rm"),
             numpy_helper.from_array(np.full(4, 3.0, np.float32), "rv")]
    outs = ["y", "m_out", "v_out"] if training_mode else ["y"]
    g = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
         helper.make_node("BatchNormalization", ["c", "g", "b", "rm", "rv"], outs, training_mode=training_mode),
         helper.make_node("Relu", ["y"], ["out"])],
        "t", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 10
    return m


def test_training_mode_batchnorm_becomes_the_inference_kernel():
    x = np.random.default_rng(1).standard_normal((5, 3, 8, 8)).astype(np.float32)
    inf, what = inference_graph(_bn_model(1))
    assert what == "inference"
    np.testing.assert_allclose(_run(inf, x), _run(_bn_model(0), x), rtol=1e-6, atol=1e-6)
    assert not np.allclose(_run(_bn_model(1), x), _run(_bn_model(0), x))  # the input was batch statistics


def test_unrecorded_batch_statistics_are_timed_as_given():
    m = _bn_model(0)
    m.metadata_props.add(key="onnxscore.bn", value="batch")
    same, what = inference_graph(m)
    assert same is m and what.startswith("as given")
    assert measure_latency(m, runs=1, warmup=0, input_shape=(3, 8, 8))["graph"] == what


def test_stale_record_is_timed_as_given():
    m = _bn_model(0)
    m.metadata_props.add(key=MOMENTS_KEY, value='[{"mean": "gone", "var": "gone2", "shape": [1, 4, 1, 1]}]')
    assert inference_graph(m)[1].startswith("as given")


def test_keras_batchnorm_graph_becomes_keras_inference(tmp_path):
    keras = pytest.importorskip("keras")
    from onnxscore.converters import convert

    i = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(8, 3, padding="same")(i)
    x = keras.layers.BatchNormalization(name="bn_a")(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.DepthwiseConv2D(3, padding="same")(x)
    x = keras.layers.BatchNormalization(name="bn_b")(x)
    x = keras.layers.Activation("swish")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(i, keras.layers.Dense(5)(x))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        proto = convert(model)
    xs = np.random.default_rng(2).standard_normal((6, 16, 16, 3)).astype(np.float32)
    inf, what = inference_graph(proto)
    assert what == "inference"
    assert sum(n.op_type == "ReduceMean" for n in inf.graph.node) < sum(n.op_type == "ReduceMean" for n in proto.graph.node)
    np.testing.assert_allclose(_run(inf, xs), model(xs, training=False).numpy(), rtol=1e-4, atol=1e-5)
    # the scoring graph itself is untouched: batch statistics (a training=True call, which also
    # moves Keras's running statistics, so it comes last)
    np.testing.assert_allclose(_run(proto, xs), model(xs, training=True).numpy(), rtol=1e-4, atol=1e-5)
    assert measure_latency(proto, runs=1, warmup=0, batch_size=2)["graph"] == "inference"
