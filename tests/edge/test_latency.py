"""Latency measurement: what is recorded (no timing assertions)."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnxscore.edge.latency import measure_latency
from onnxscore.errors import InputError


def _model(x_shape):
    g = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c"], ["y"])],
        "t", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [x_shape[0], 4, *x_shape[2:]])],
        [numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "w")],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 10
    return m


def test_records_median_runs_threads_provider():
    r = measure_latency(_model(["N", 3, 8, 8]), provider="cpu", threads=1, warmup=2, runs=5)
    assert r["median_ms"] > 0 and r["min_ms"] <= r["median_ms"]
    assert (r["runs"], r["warmup"], r["threads"], r["batch_size"]) == (5, 2, 1, 1)
    assert r["provider"] == "CPUExecutionProvider"


def test_from_path_with_batch_and_input_shape(tmp_path):
    p = tmp_path / "m.onnx"
    p.write_bytes(_model(["N", 3, "H", "W"]).SerializeToString())
    with pytest.raises(InputError, match="input_shape"):
        measure_latency(str(p), runs=1)
    r = measure_latency(str(p), runs=2, batch_size=3, input_shape=(3, 6, 6))
    assert r["batch_size"] == 3 and r["runs"] == 2


def test_rejects_bad_settings():
    with pytest.raises(InputError):
        measure_latency(_model(["N", 3, 8, 8]), runs=0)
