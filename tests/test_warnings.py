"""Warnings that are true: folded BN only when nothing normalises, merged ReLUs only for exporters that merge,
SWAP saturation at its bound, and the no-site error / convert summary naming what --activations extended finds."""
from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import onnxscore
from onnxscore.cli.convert import summary
from tests.models import make_model

torch = pytest.importorskip("torch", reason="needs torch: pip install 'onnxscore[torch]'")
nn = torch.nn
FOLDED = "BN was probably folded"


class PoolNet(nn.Module):
    """Conv-BN-ReLU twice, then a global average pool (x.mean((2, 3)), a ReduceMean) and a classifier."""

    def __init__(self, act=nn.ReLU):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), act(),
                                  nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), act())
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        return self.fc(self.body(x).mean((2, 3)))


def _quiet_export(net, shape, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.onnx.export(net.eval(), (torch.randn(2, *shape),), dynamo=True, verbose=False,
                                 dynamic_shapes=({0: torch.export.Dim("batch")},), **kw).model_proto


def _convert(net, shape):
    from onnxscore.converters import convert

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return convert(net, input_shape=shape)


def _warnings(model, **kw):
    return onnxscore.score(model, ["naswot"], batch_size=16, **kw).warnings


# -- folded BatchNorm ------------------------------------------------------------------------------

def test_folded_bn_with_a_mean_pool_is_warned():
    torch.manual_seed(0)
    folded = _quiet_export(PoolNet(), (3, 8, 8), optimize=True)  # the optimizer folds BN into the convs
    ops = {n.op_type for n in folded.graph.node}
    assert "BatchNormalization" not in ops and "ReduceMean" in ops  # the pool is the only ReduceMean
    assert any(FOLDED in w for w in _warnings(folded))


def test_kept_bn_and_layernorm_are_not_warned():
    torch.manual_seed(0)
    assert not any(FOLDED in w for w in _warnings(_convert(PoolNet(), (3, 8, 8))))

    class Embed(nn.Module):  # a patch-embedding conv normalised by LayerNorm
        def __init__(self):
            super().__init__()
            self.conv, self.norm, self.fc = nn.Conv2d(3, 8, 4, stride=4), nn.LayerNorm(8), nn.Linear(8, 8)

        def forward(self, x):
            return torch.relu(self.fc(self.norm(self.conv(x).flatten(2).transpose(1, 2))))

    assert not any(FOLDED in w for w in _warnings(_convert(Embed(), (3, 8, 8))))


def _conv_then(nodes_after, inits_after, out=("N", 4, 6, 6)):
    w = numpy_helper.from_array(np.random.default_rng(0).standard_normal((4, 3, 3, 3)).astype(np.float32), "w")
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 6, 6])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, list(out))
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1])] + nodes_after
    return make_model(nodes, [x], [y], [w] + inits_after, opset=18)


def test_bn_written_as_arithmetic_counts_and_a_pooling_mean_does_not():
    axes = numpy_helper.from_array(np.array([0, 2, 3], np.int64), "axes")
    eps = numpy_helper.from_array(np.array(1e-5, np.float32), "eps")
    bn = [helper.make_node("ReduceMean", ["c", "axes"], ["m"]), helper.make_node("Sub", ["c", "m"], ["d"]),
          helper.make_node("Mul", ["d", "d"], ["d2"]), helper.make_node("ReduceMean", ["d2", "axes"], ["v"]),
          helper.make_node("Add", ["v", "eps"], ["ve"]), helper.make_node("Sqrt", ["ve"], ["s"]),
          helper.make_node("Div", ["d", "s"], ["n"]), helper.make_node("Relu", ["n"], ["y"])]
    assert not any(FOLDED in w for w in _warnings(_conv_then(bn, [axes, eps])))
    pool_axes = numpy_helper.from_array(np.array([2, 3], np.int64), "pa")
    pool = [helper.make_node("Relu", ["c"], ["r"]), helper.make_node("ReduceMean", ["r", "pa"], ["y"], keepdims=0)]
    assert any(FOLDED in w for w in _warnings(_conv_then(pool, [pool_axes], ("N", 4))))


# -- merged ReLUs ----------------------------------------------------------------------------------

class Fanout(nn.Module):
    """Genuine fan-out: a ResNet block whose ReLU feeds the next conv and the downsample conv, then a
    SqueezeNet Fire whose squeeze ReLU feeds its 1x1 and 3x3 expand convs."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.conv = nn.Sequential(nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(16))
        self.down = nn.Sequential(nn.Conv2d(8, 16, 1, stride=2, bias=False), nn.BatchNorm2d(16))
        self.squeeze = nn.Sequential(nn.Conv2d(16, 4, 1), nn.ReLU())
        self.e1, self.e3 = nn.Conv2d(4, 8, 1), nn.Conv2d(4, 8, 3, padding=1)

    def forward(self, x):
        s = self.stem(x)
        y = torch.relu(self.conv(s) + self.down(s))
        q = self.squeeze(y)
        return torch.cat([torch.relu(self.e1(q)), torch.relu(self.e3(q))], 1)


def test_genuine_fanout_is_not_called_a_merge_on_onnxscores_export():
    torch.manual_seed(0)
    model = _convert(Fanout(), (3, 8, 8))
    res = onnxscore.score(model, ["naswot"], batch_size=16)
    sites = onnxscore.graph.sites.find_sites(onnxscore.graph.view.GraphView(model))
    assert sum(s.merged_consumers > 1 for s in sites) == 2  # the stem ReLU and the squeeze ReLU
    assert not any("merged" in w for w in res.warnings)


def test_genuine_fanout_in_a_file_of_unknown_origin_is_not_warned():
    w = numpy_helper.from_array(np.eye(4, dtype=np.float32), "w")
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("MatMul", ["r", "w"], ["a"]),
             helper.make_node("MatMul", ["r", "w"], ["b"]), helper.make_node("Add", ["a", "b"], ["y"])]
    model = make_model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
                       [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])], [w])
    assert not any("merged" in w for w in _warnings(model))
    model.producer_name = "pytorch"  # the same graph from torch.onnx: it may be a merge, said as information
    (note,) = [w for w in _warnings(model) if "merged" in w]
    assert note.startswith("1 activation output(s) feed several") and "per-consumer counts them" in note
    assert "dynamo" not in note  # no advice to re-export: the score is not known to be wrong


def test_legacy_torchscript_export_of_one_relu_read_twice_is_informed():
    torch.manual_seed(0)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Fanout().eval(), (torch.randn(2, 3, 8, 8),), buf, dynamo=False, input_names=["x"],
                          dynamic_axes={"x": {0: "b"}})
    res = onnxscore.score(buf.getvalue(), ["naswot"], batch_size=16)
    assert any(w.startswith("2 activation output(s)") for w in res.warnings)


# -- SWAP saturation -------------------------------------------------------------------------------

def _conv_relu(channels=8, size=6, k=3):
    rng = np.random.default_rng(1)
    w = numpy_helper.from_array(rng.standard_normal((channels, 3, k, k)).astype(np.float32), "w")
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, size, size])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", channels, size, size])
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[k // 2] * 4), helper.make_node("Relu", ["c"], ["y"])]
    return make_model(nodes, [x], [y], [w])


def _swap(model, batch, data=None):
    res = onnxscore.score(model, ["swap"], batch_size=batch, data=data)
    return res.scores["swap"], [w for w in res.warnings if "saturated" in w]


def test_swap_saturated_at_two_to_the_batch_names_the_batch_that_lifts_it():
    count, notes = _swap(_conv_relu(), 4)  # 288 conv units, 2^4 = 16 patterns at most
    assert count >= 0.995 * 16
    assert len(notes) == 1 and "2^4 = 16" in notes[0] and "a batch of 9 or more" in notes[0]  # 2^9 >= 288


def test_swap_saturated_at_the_unit_count_says_no_batch_lifts_it():
    count, notes = _swap(_conv_relu(channels=2, size=3), 64)  # 18 units, 64 random samples
    assert count == 18
    assert len(notes) == 1 and "one per conv unit" in notes[0] and "no batch size lifts it" in notes[0]


def test_swap_below_its_bound_is_not_warned():
    # every pixel of a sample equal: a 1x1 conv's units share their channel's pattern, 8 of 288
    rng = np.random.default_rng(2)
    data = np.repeat(np.repeat(rng.standard_normal((32, 3, 1, 1)).astype(np.float32), 6, 2), 6, 3)
    count, notes = _swap(_conv_relu(k=1), 32, data)
    assert count <= 8 and notes == []


# -- what --activations extended would find --------------------------------------------------------

def test_error_and_summary_name_the_extended_sites():
    torch.manual_seed(0)
    model = _convert(PoolNet(nn.SiLU), (3, 8, 8))
    with pytest.raises(onnxscore.OnnxscoreError) as exc:
        onnxscore.score(model, ["naswot"], batch_size=16)
    assert "it has 2 activation sites with --activations extended (2 Swish)" in str(exc.value)
    assert "0 activation sites (none); 2 with --activations extended (2 Swish);" in summary(model)
    relu = summary(_convert(PoolNet(), (3, 8, 8)))
    assert "2 activation sites (2 Relu); 2 BatchNormalization" in relu and "extended" not in relu


def test_no_site_at_all_does_not_suggest_extended():
    model = _conv_then([helper.make_node("Sigmoid", ["c"], ["y"])], [])
    with pytest.raises(onnxscore.OnnxscoreError) as exc:
        onnxscore.score(model, ["naswot"], batch_size=16)
    assert "no activation site" in str(exc.value) and "--activations extended" not in str(exc.value)
    with pytest.raises(onnxscore.OnnxscoreError) as exc:
        onnxscore.score(model, ["naswot"], batch_size=16, activations="extended")
    assert "no activation site" in str(exc.value)


def test_a_net_without_bn_converted_by_onnxscore_is_not_called_folded():
    torch.manual_seed(0)
    squeeze_like = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 1), nn.ReLU(),
                                 nn.AdaptiveAvgPool2d(1), nn.Flatten())  # SqueezeNet-style: no BN by design
    assert not any(FOLDED in w for w in _warnings(_convert(squeeze_like, (3, 8, 8))))
    assert any(FOLDED in w for w in _warnings(_quiet_export(squeeze_like, (3, 8, 8), optimize=True)))
