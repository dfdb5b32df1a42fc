"""Paddle converter: BN and every activation kept, paddle2onnx's misread attributes repaired, scores
equal to the same proxies computed in Paddle (train-mode BN), and aborts turned into errors."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import warnings
from collections import Counter

import numpy as np
import pytest

warnings.filterwarnings("ignore", message="No ccache found")
paddle = pytest.importorskip("paddle", reason='PaddlePaddle is not installed: pip install "onnxscore[paddle]"')
pytest.importorskip("paddle2onnx", reason='paddle2onnx is not installed: pip install "onnxscore[paddle]"')

import onnxscore  # noqa: E402
from onnxscore.converters import convert, detect_format  # noqa: E402
from onnxscore.errors import ConverterError  # noqa: E402
from tests.converters import framework_proxies as fp  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:When training, we now always track")
SHAPE = (3, fp.H, fp.W)


def _save(layer, folder):
    layer.eval()
    prefix = str(folder / "inference")
    paddle.jit.save(layer, prefix, input_spec=[paddle.static.InputSpec([None, *SHAPE], "float32", "x")])
    return prefix


@pytest.fixture(scope="module")
def net():
    return fp.paddle_net()


@pytest.fixture(scope="module")
def saved(net, tmp_path_factory):
    return _save(net, tmp_path_factory.mktemp("paddle"))


@pytest.fixture(scope="module")
def model(saved):
    return convert(saved)


def test_formats_are_detected(saved):
    folder = saved.rsplit("/", 1)[0]
    for src in (saved, folder, saved + ".json"):
        assert detect_format(src) == "paddle"


def test_every_activation_and_batchnorm_is_kept(model):
    ops = Counter(n.op_type for n in model.graph.node)
    assert ops["BatchNormalization"] == 3
    assert (ops["Relu"], ops["Clip"], ops["LeakyRelu"], ops["PRelu"]) == (4, 2, 1, 1)
    relu_inputs = Counter(n.input[0] for n in model.graph.node if n.op_type == "Relu")
    assert 2 in relu_inputs.values(), "the two ReLU layers reading one tensor were merged"
    assert model.ir_version == 10
    assert onnxscore.score(model, proxies=["naswot"], batch_size=16).sites == fp.PADDLE_ACTIVATIONS


def test_output_matches_paddle_eval_mode(net, model):
    # catches paddle2onnx's float64 misreads: LeakyReLU slope ~1e-43, hardtanh(0, 3) as (-1, 1)
    leaky = next(n for n in model.graph.node if n.op_type == "LeakyRelu")
    assert abs(leaky.attribute[0].f - 0.1) < 1e-7
    for n in (3, 7):
        x = fp.batch(SHAPE, n)
        np.testing.assert_allclose(fp.run_onnx(model, x), fp.paddle_eval_output(net, x), rtol=1e-4, atol=1e-5)


def test_scores_equal_paddle_train_mode(net, model):
    x = fp.batch(SHAPE, fp.B)
    codes, _ = fp.paddle_codes(net, x)
    fp.assert_scores_match_framework(model, codes, x, fp.PADDLE_ACTIVATIONS)


class _Lgamma(paddle.nn.Layer):
    def __init__(self):
        super().__init__()
        self.conv = paddle.nn.Conv2D(3, 4, 3)

    def forward(self, x):
        return paddle.lgamma(paddle.nn.functional.relu(self.conv(x)))


def test_unsupported_op_is_named_not_an_abort(tmp_path):
    # paddle2onnx calls abort() here: the child process dies, this one reports the operator
    prefix = _save(_Lgamma(), tmp_path)
    with pytest.raises(ConverterError) as err:
        convert(prefix)
    assert "lgamma" in str(err.value) and "\n" not in str(err.value)


def test_cli_writes_the_model(run_cli, saved, tmp_path):
    out = tmp_path / "net.onnx"
    code, stdout, _ = run_cli("convert", saved, "-o", str(out), "--from", "paddle")
    assert code == 0 and out.is_file()
    assert f"{fp.PADDLE_ACTIVATIONS} activation sites" in stdout and "3 BatchNormalization" in stdout


_LEGACY = textwrap.dedent("""
    import sys, numpy as np, paddle
    from paddle import nn
    paddle.seed(0)
    net = nn.Sequential(nn.Conv2D(3, 8, 3), nn.BatchNorm2D(8), nn.ReLU(), nn.Conv2D(8, 8, 3), nn.LeakyReLU(0.2))
    net.eval()
    paddle.jit.save(net, sys.argv[1] + "/inference",
                    input_spec=[paddle.static.InputSpec([None, 3, 10, 10], "float32", "x")])
    x = np.random.default_rng(0).standard_normal((4, 3, 10, 10)).astype("float32")
    np.save(sys.argv[1] + "/x.npy", x)
    np.save(sys.argv[1] + "/y.npy", net(paddle.to_tensor(x)).numpy())
""")


def test_legacy_pdmodel_converts_with_its_attributes(tmp_path):
    # Paddle 2.x programs (.pdmodel): paddle2onnx translates them to PIR and misreads the same slope
    env = {**os.environ, "FLAGS_enable_pir_api": "0"}
    subprocess.run([sys.executable, "-c", _LEGACY, str(tmp_path)], check=True, env=env,
                   capture_output=True, timeout=300)
    assert (tmp_path / "inference.pdmodel").is_file()
    model = convert(str(tmp_path))
    y = fp.run_onnx(model, np.load(tmp_path / "x.npy"))
    np.testing.assert_allclose(y, np.load(tmp_path / "y.npy"), rtol=1e-4, atol=1e-5)
