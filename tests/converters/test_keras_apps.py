"""keras.applications models and layers tf2onnx trips on: a Normalization layer's constants are folded
(no extra graph inputs), params are Keras's trainable count, exact GELU converts, and a layer that
cannot be converted is named with its class."""
from __future__ import annotations

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
tf = pytest.importorskip("tensorflow", reason='TensorFlow is not installed: pip install "onnxscore[tensorflow]"')
pytest.importorskip("tf2onnx", reason='tf2onnx is not installed: pip install "onnxscore[tensorflow]"')
keras = pytest.importorskip("keras")

from onnxscore.converters import convert  # noqa: E402
from onnxscore.converters.keras import batchnorm_in_training_mode  # noqa: E402
from onnxscore.errors import ConverterError  # noqa: E402
from onnxscore.graph.params import count_graph_params, count_params_with_source  # noqa: E402
from tests.converters import framework_proxies as fp  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
L = keras.layers


def _trainable(model) -> int:
    return int(sum(int(np.prod(w.shape)) for w in model.trainable_weights))


@pytest.mark.slow
def test_efficientnet_normalization_is_folded_and_scores(tmp_path):
    # EfficientNet starts with Rescaling + Normalization; its mean/variance used to become graph inputs.
    # Run as a user does, in a fresh process (score supervises a child, which must not fork TensorFlow).
    net = keras.applications.EfficientNetB0(weights=None, input_shape=(64, 64, 3))
    path = tmp_path / "effnet.keras"
    net.save(path)
    exe = os.path.join(os.path.dirname(sys.executable), "onnxscore")
    cmd = [exe] if os.path.exists(exe) else [sys.executable, "-m", "onnxscore"]
    done = subprocess.run([*cmd, "score", str(path), "--proxy", "naswot", "--batch-size", "8",
                           "--activations", "extended"], capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "naswot" in done.stdout and f"params {_trainable(net)}" in done.stdout


@pytest.mark.slow
def test_efficientnet_graph_has_one_input_and_matches_keras():
    net = keras.applications.EfficientNetB0(weights=None, input_shape=(32, 32, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = convert(net)
    inits = {t.name for t in m.graph.initializer}
    assert [i.name for i in m.graph.input if i.name not in inits] == ["x"]
    x = fp.batch((32, 32, 3), 4) * 50 + 100  # image-like values, so Normalization matters
    with batchnorm_in_training_mode(net):  # what the converter traces: BN on batch statistics, no dropout
        want = net(x, training=False).numpy()
    np.testing.assert_allclose(fp.run_onnx(m, x), want, rtol=1e-3, atol=1e-4)


@pytest.mark.slow
def test_mobilenet_v2_params_are_keras_trainable_params():
    net = keras.applications.MobileNetV2(weights=None, input_shape=(96, 96, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = convert(net)
    params, source = count_params_with_source(m)
    assert params == _trainable(net) == 3_504_872
    assert "Keras" in source
    assert count_graph_params(m) < params  # tf2onnx folded zero biases / unit BN scales away
    big = next(t for t in m.graph.initializer if np.prod(t.dims) > 1 and t.data_type == 1)  # a float weight
    m.graph.initializer.remove(big)  # an edited graph: the recorded count no longer applies
    assert count_params_with_source(m) == (count_graph_params(m), None)


@pytest.mark.parametrize("approximate", [False, True])
def test_gelu_converts_and_matches_keras(approximate):
    inp = keras.Input((8, 8, 3))
    x = L.Conv2D(4, 3, padding="same")(inp)
    out = L.Activation(lambda t: keras.activations.gelu(t, approximate=approximate))(x)
    net = keras.Model(inp, out)
    m = convert(net)
    assert not any(n.op_type == "Erfc" for n in m.graph.node)
    x = fp.batch((8, 8, 3), 4)
    np.testing.assert_allclose(fp.run_onnx(m, x), net(x).numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("layer", [
    lambda: L.Conv2D(8, 3, groups=4, padding="same", name="g"),
    lambda: L.Conv2D(6, 3, groups=2, strides=2, name="g"),
    lambda: L.Conv2D(8, 3, groups=8, dilation_rate=2, padding="same", name="g"),
])
def test_grouped_conv2d_converts_to_one_grouped_conv(layer):
    inp = keras.Input((9, 9, 8))
    net = keras.Model(inp, L.ReLU()(layer()(inp)))
    m = convert(net)
    groups = [a.i for n in m.graph.node if n.op_type == "Conv" for a in n.attribute if a.name == "group"]
    assert groups == [net.get_layer("g").groups]
    x = fp.batch((9, 9, 8), 4)
    np.testing.assert_allclose(fp.run_onnx(m, x), net(x).numpy(), rtol=1e-5, atol=1e-6)


def test_grouped_conv1d_converts():
    inp = keras.Input((12, 4))
    net = keras.Model(inp, L.Conv1D(4, 3, groups=2, padding="same")(inp))
    x = np.random.default_rng(0).standard_normal((3, 12, 4)).astype(np.float32)
    np.testing.assert_allclose(fp.run_onnx(convert(net), x), net(x).numpy(), rtol=1e-5, atol=1e-6)


def test_unconvertible_layer_is_named_with_its_class():
    import tensorflow as tf

    class Opaque(keras.layers.Layer):
        """Runs its op in a nested XLA-compiled function, which tf2onnx sees as an opaque call."""

        def call(self, x):
            return tf.function(lambda t: t * 2.0, jit_compile=True)(x)

    inp = keras.Input((8, 8, 4))
    net = keras.Model(inp, Opaque(name="opaque")(L.Conv2D(4, 1)(inp)))
    with pytest.raises(ConverterError) as err:
        convert(net)
    msg = str(err.value)
    assert "Keras layer 'opaque' (Opaque)" in msg and "\n" not in msg
