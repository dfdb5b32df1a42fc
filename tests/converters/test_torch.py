"""PyTorch converter: every ReLU and BatchNorm survives, and scores equal PyTorch's own (train-mode BN)."""
from __future__ import annotations

import json
import warnings
from collections import Counter

import numpy as np
import onnx
import pytest

torch = pytest.importorskip("torch", reason='PyTorch is not installed: pip install "onnxscore[torch]"')
pytest.importorskip("onnxscript", reason='onnxscript is not installed: pip install "onnxscore[torch]"')

import onnxscore  # noqa: E402
from onnxscore.converters import convert  # noqa: E402
from onnxscore.errors import ConverterError, InputError  # noqa: E402
from tests.converters import framework_proxies as fp  # noqa: E402

SHAPE = (3, fp.H, fp.W)
SPEC = "tests.converters.framework_proxies:torch_net"


@pytest.fixture(scope="module")
def net():
    return fp.torch_net()


@pytest.fixture(scope="module")
def model(net):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return convert(net, input_shape=SHAPE)


def test_every_relu_and_batchnorm_is_kept(model):
    ops = Counter(n.op_type for n in model.graph.node)
    assert ops["BatchNormalization"] == 3
    assert (ops["Relu"], ops["Clip"], ops["LeakyRelu"], ops["PRelu"]) == (4, 1, 1, 1)
    relu_inputs = Counter(n.input[0] for n in model.graph.node if n.op_type == "Relu")
    assert 2 in relu_inputs.values(), "the two ReLU modules reading one tensor were merged"
    assert model.ir_version == 10


def test_batch_is_dynamic_and_output_matches_eval_mode(net, model):
    dim0 = model.graph.input[0].type.tensor_type.shape.dim[0]
    assert dim0.dim_param and not dim0.dim_value
    net.eval()
    for n in (3, 7):
        x = fp.batch(SHAPE, n)
        with torch.no_grad():
            ref = net(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(fp.run_onnx(model, x), ref, rtol=1e-4, atol=1e-5)


def test_scores_equal_pytorch_train_mode(net, model):
    x = fp.batch(SHAPE, fp.B)
    codes, _ = fp.torch_codes(net, x)
    fp.assert_scores_match_framework(model, codes, x, fp.TORCH_ACTIVATIONS)


def test_factory_spec_converts_and_refuses_to_overwrite(run_cli, in_repo, tmp_path):
    out = tmp_path / "net.onnx"
    code, stdout, _ = run_cli("convert", SPEC, "-o", str(out), "--input-shape", "3,12,12")
    assert code == 0 and "7 activation sites" in stdout
    onnx.checker.check_model(onnx.load(str(out)))
    before = out.read_bytes()
    code, _, err = run_cli("convert", SPEC, "-o", str(out), "--input-shape", "3,12,12")
    assert code == 2 and "--force" in err and len(err.strip().splitlines()) == 1
    assert out.read_bytes() == before
    code, _, _ = run_cli("convert", SPEC, "-o", str(out), "--input-shape", "3,12,12", "--force")
    assert code == 0


def test_score_command_converts_in_memory(run_cli, in_repo):
    code, stdout, _ = run_cli(SPEC, "--proxy", "naswot", "--input-shape", "3,12,12", "-b", "16", "--json")
    assert code == 0
    res = json.loads(stdout.strip().splitlines()[-1])
    assert res["sites"] == fp.TORCH_ACTIVATIONS and res["scores"]["naswot"] > 0


class _Polygamma(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)

    def forward(self, x):
        return torch.polygamma(2, torch.relu(self.conv(x)))


def test_unsupported_op_is_named_in_one_line():
    with pytest.raises(ConverterError) as err:
        convert(_Polygamma(), input_shape=(3, 8, 8))
    msg = str(err.value)
    assert "aten.polygamma" in msg and "\n" not in msg


def test_factory_needs_an_input_shape(in_repo):
    with pytest.raises(InputError, match="--input-shape"):
        convert(SPEC)
