"""Keras/TensorFlow converter: BN with batch statistics, one site per Keras activation, and scores
equal to the same proxies computed in Keras with training=True."""
from __future__ import annotations

import os
import warnings
from collections import Counter

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
tf = pytest.importorskip("tensorflow", reason='TensorFlow is not installed: pip install "onnxscore[tensorflow]"')
pytest.importorskip("tf2onnx", reason='tf2onnx is not installed: pip install "onnxscore[tensorflow]"')
keras = pytest.importorskip("keras")

import onnxscore  # noqa: E402
from onnxscore.converters import META_BN, ConverterWarning, convert, detect_format  # noqa: E402
from onnxscore.errors import ConverterError  # noqa: E402
from tests.converters import framework_proxies as fp  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # Keras+NumPy 2
SHAPE = (fp.H, fp.W, 3)  # Keras is channels-last, and so is the converted model's input


def _meta(model) -> dict:
    return {p.key: p.value for p in model.metadata_props}


@pytest.fixture(scope="module")
def net():
    return fp.keras_net()


@pytest.fixture(scope="module")
def keras_file(net, tmp_path_factory):
    path = tmp_path_factory.mktemp("keras") / "net.keras"
    net.save(path)
    return str(path)


@pytest.fixture(scope="module")
def model(keras_file):
    return convert(keras_file)


def test_each_keras_activation_is_one_site(model):
    ops = Counter(n.op_type for n in model.graph.node)
    # conv relu, ReLU, the two ReLU layers on one tensor, PReLU's positive half, dense relu
    assert ops["Relu"] == 6
    assert ops["Clip"] == 1 and ops["LeakyRelu"] == 1  # ReLU(max_value=6) -> Clip(0, 6)
    assert ops["Max"] == 1  # PReLU's relu(-x) half, no longer a second site
    relu_inputs = Counter(n.input[0] for n in model.graph.node if n.op_type == "Relu")
    assert 2 in relu_inputs.values(), "the two ReLU layers reading one tensor were merged"
    res = onnxscore.score(model, proxies=["naswot"], batch_size=16)
    assert res.sites == fp.KERAS_ACTIVATIONS


def test_batchnorm_becomes_batch_statistics(net, model):
    ops = Counter(n.op_type for n in model.graph.node)
    assert ops["BatchNormalization"] == 0 and ops["ReduceMean"] >= 6  # mean and variance per BN
    assert _meta(model)[META_BN] == "batch" and model.ir_version == 10
    for n in (3, 7):  # dynamic batch; equal to Keras training=True at any batch size
        x = fp.batch(SHAPE, n)
        np.testing.assert_allclose(fp.run_onnx(model, x), net(x, training=True).numpy(),
                                   rtol=1e-4, atol=1e-5)


def test_scores_equal_keras_training_mode(net, model):
    x = fp.batch(SHAPE, fp.B)
    codes, _ = fp.keras_codes(net, x)
    fp.assert_scores_match_framework(model, codes, x, fp.KERAS_ACTIVATIONS)


def test_h5_and_model_object_give_the_same_graph(net, model, tmp_path):
    h5 = tmp_path / "net.h5"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras calls HDF5 "legacy"
        net.save(h5)
    assert detect_format(str(h5)) == "keras"
    want = Counter(n.op_type for n in model.graph.node)
    for src in (str(h5), net):
        assert Counter(n.op_type for n in convert(src).graph.node) == want


def test_saved_model_warns_that_bn_is_folded(net, tmp_path):
    path = tmp_path / "saved"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net.export(str(path), verbose=False)
    assert detect_format(str(path)) == "tensorflow"
    with pytest.warns(ConverterWarning, match="BatchNorm"):
        m = convert(str(path))
    assert _meta(m)[META_BN] == "folded"
    assert onnxscore.score(m, proxies=["naswot"], batch_size=16).sites == fp.KERAS_ACTIVATIONS


def test_tf_function_traced_in_training_mode_keeps_batch_statistics(net):
    fn = tf.function(lambda x: net(x, training=True), input_signature=[tf.TensorSpec((None, *SHAPE))])
    m = convert(fn)
    assert _meta(m)[META_BN] == "batch"
    x = fp.batch(SHAPE, 5)
    np.testing.assert_allclose(fp.run_onnx(m, x), net(x, training=True).numpy(), rtol=1e-4, atol=1e-5)


def test_unsupported_op_is_named_in_one_line():
    fn = tf.function(lambda x: tf.math.lgamma(tf.nn.relu(x)), input_signature=[tf.TensorSpec((None, 4, 4, 3))])
    with pytest.raises(ConverterError) as err:
        convert(fn)
    assert "Lgamma" in str(err.value) and "\n" not in str(err.value)


def test_hard_swish_is_one_extended_site_not_a_relu6_site():
    # Keras hard_silu = x * relu6(x + 3) / 6: tf2onnx writes a Clip(0, 6) that is no ReLU of x
    L = keras.layers
    inp = keras.Input((8, 8, 3))
    x = L.Activation("hard_silu")(L.Conv2D(4, 3)(inp))
    x = L.Activation("hard_sigmoid")(L.Conv2D(4, 3)(x))
    net = keras.Model(inp, L.ReLU(max_value=6.0)(L.Conv2D(4, 3)(x)))
    m = convert(net)
    ops = Counter(n.op_type for n in m.graph.node)
    assert (ops["HardSwish"], ops["HardSigmoid"], ops["Clip"]) == (1, 1, 1)
    assert onnxscore.score(m, proxies=["naswot"], batch_size=8).sites == 1
    # HardSwish, HardSigmoid (by their input) and the ReLU6
    assert onnxscore.score(m, proxies=["naswot"], batch_size=8, activations="extended").sites == 3
    x = fp.batch((8, 8, 3), 4)
    np.testing.assert_allclose(fp.run_onnx(m, x), net(x).numpy(), rtol=1e-4, atol=1e-5)
