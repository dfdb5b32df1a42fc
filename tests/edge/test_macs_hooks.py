"""MACs of torch.onnx exports (dynamo=True, optimize=False, onnxscore's torch converter) against PyTorch
forward hooks on the source modules, and a node that cannot be sized is reported, not dropped.

Reference convention (the counter's, independently computed from the modules):
- Conv2d: output elements * Cin/groups * kh * kw; its bias is not charged;
- ConvTranspose2d: input elements * Cout/groups * kh * kw;
- Linear: rows * in * out, plus rows * out for a bias (rows = every leading dim flattened), whether the
  exporter writes it as a Gemm (2-D input) or as MatMul + Add (3-D input);
- attention's q @ k^T and attn @ v (no module to hook): 2 * T * T * D per block, counted by hand.
"""
from __future__ import annotations

from math import prod

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnxscore.edge.macs import count_macs
from onnxscore.edge.memory import peak_activation_memory

torch = pytest.importorskip("torch", reason="needs torch: pip install 'onnxscore[torch]'")
nn = torch.nn


class Block(nn.Module):
    """ResNet basic block with a 1x1 projection shortcut when the shape changes."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1, self.b1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout)
        self.c2, self.b2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout)
        self.sc = (nn.Identity() if stride == 1 and cin == cout else
                   nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)))

    def forward(self, x):
        y = self.b2(self.c2(torch.relu(self.b1(self.c1(x)))))
        return torch.relu(y + self.sc(x))


def resnet():
    return nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
                         Block(16, 16, 1), Block(16, 32, 2), Block(32, 64, 2),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand, 3x3 depthwise, 1x1 project."""

    def __init__(self, cin, cout, stride, t):
        super().__init__()
        h = cin * t
        self.res = stride == 1 and cin == cout
        self.f = nn.Sequential(nn.Conv2d(cin, h, 1, bias=False), nn.BatchNorm2d(h), nn.ReLU6(),
                               nn.Conv2d(h, h, 3, stride, 1, groups=h, bias=False), nn.BatchNorm2d(h), nn.ReLU6(),
                               nn.Conv2d(h, cout, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        return x + self.f(x) if self.res else self.f(x)


def mobilenet_v2():
    return nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU6(),
                         InvertedResidual(16, 16, 1, 1), InvertedResidual(16, 24, 2, 6),
                         InvertedResidual(24, 24, 1, 6), InvertedResidual(24, 32, 2, 6),
                         nn.Conv2d(32, 128, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU6(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(128, 100))


class Attention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.h, self.qkv, self.proj = heads, nn.Linear(d, 3 * d), nn.Linear(d, d)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(x).reshape(b, t, 3, self.h, d // self.h).permute(2, 0, 3, 1, 4)
        a = (q @ k.transpose(-2, -1)) * (d // self.h) ** -0.5
        return self.proj((a.softmax(-1) @ v).transpose(1, 2).reshape(b, t, d))


class TinyViT(nn.Module):
    """Patch-embedding Conv, pre-norm attention + GELU MLP blocks on (B, T, D), mean-pool, Linear head."""

    def __init__(self, d=64, depth=2, heads=4, patch=4, classes=10):
        super().__init__()
        self.d, self.depth = d, depth
        self.pe = nn.Conv2d(3, d, patch, patch)
        self.blocks = nn.ModuleList(nn.ModuleDict(dict(
            n1=nn.LayerNorm(d), a=Attention(d, heads), n2=nn.LayerNorm(d),
            m=nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d)))) for _ in range(depth))
        self.norm, self.head = nn.LayerNorm(d), nn.Linear(d, classes)

    def forward(self, x):
        x = self.pe(x).flatten(2).transpose(1, 2)
        for blk in self.blocks:
            x = x + blk["a"](blk["n1"](x))
            x = x + blk["m"](blk["n2"](x))
        return self.head(self.norm(x).mean(1))

    def attention_macs(self, hw):
        t = (hw // 4) ** 2
        return self.depth * 2 * t * t * self.d


class Decoder(nn.Module):
    """Grouped convs, a ConvTranspose2d upsampler, and bias-free Linear layers on a flattened map."""

    def __init__(self):
        super().__init__()
        self.f = nn.Sequential(nn.Conv2d(3, 32, 3, 2, 1), nn.ReLU(), nn.Conv2d(32, 32, 3, 1, 1, groups=4),
                               nn.ReLU(), nn.ConvTranspose2d(32, 16, 2, 2), nn.ReLU(),
                               nn.Conv2d(16, 8, 3, 2, 1, bias=False), nn.ReLU(), nn.Flatten(),
                               nn.Linear(8 * 16 * 16, 64, bias=False), nn.ReLU(), nn.Linear(64, 10))

    def forward(self, x):
        return self.f(x)


NETS = {  # name -> (factory, one sample's shape)
    "resnet": (resnet, (3, 32, 32)),
    "mobilenet_v2": (mobilenet_v2, (3, 64, 64)),
    "tiny_vit": (TinyViT, (3, 32, 32)),
    "decoder": (Decoder, (3, 32, 32)),
}


def hook_macs(net: nn.Module, shape) -> int:
    """Per-sample MACs from forward hooks on every Conv2d / ConvTranspose2d / Linear (batch of 2, halved)."""
    total = [0]

    def hook(mod, inputs, out):
        x = inputs[0]
        if isinstance(mod, nn.Conv2d):
            total[0] += out.numel() * (mod.in_channels // mod.groups) * prod(mod.kernel_size)
        elif isinstance(mod, nn.ConvTranspose2d):
            total[0] += x.numel() * (mod.out_channels // mod.groups) * prod(mod.kernel_size)
        elif isinstance(mod, nn.Linear):
            rows = x.numel() // mod.in_features
            total[0] += rows * mod.in_features * mod.out_features + (rows * mod.out_features if mod.bias is not None else 0)

    handles = [m.register_forward_hook(hook) for m in net.modules()
               if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]
    net.eval()
    with torch.no_grad():
        net(torch.randn(2, *shape))
    for h in handles:
        h.remove()
    extra = net.attention_macs(shape[-1]) if hasattr(net, "attention_macs") else 0
    return total[0] // 2 + extra


@pytest.fixture(scope="module")
def exported():
    from onnxscore.converters.torch import export_module

    out = {}
    for name, (factory, shape) in NETS.items():
        torch.manual_seed(0)
        net = factory()
        out[name] = (net, shape, export_module(net, shape)[0])
    return out


@pytest.mark.slow
@pytest.mark.parametrize("name", list(NETS))
def test_macs_match_forward_hooks(exported, name):
    net, shape, proto = exported[name]
    ref = hook_macs(net, shape)
    rep = count_macs(proto)
    assert rep.unknown == [], rep.unknown
    assert abs(rep.total - ref) <= 0.01 * ref, (rep.total, ref, rep.by_op_type)
    if name != "tiny_vit":  # convolutional nets: the convention is exact, not just within 1 %
        assert rep.total == ref, (rep.total, ref, rep.by_op_type)
    # the final Linear is counted (the node shape inference alone could not size)
    assert rep.by_op_type.get("Gemm", 0) + rep.by_op_type.get("MatMul", 0) > 0


@pytest.mark.slow
def test_vit_counts_attention_and_linear_biases(exported):
    net, shape, proto = exported["tiny_vit"]
    rep = count_macs(proto)
    t, d = (shape[-1] // 4) ** 2, net.d
    per_block = t * (d * 3 * d + 3 * d) + t * (d * d + d) + t * (d * 2 * d + 2 * d) + t * (2 * d * d + d) + 2 * t * t * d
    assert rep.by_op_type["MatMul"] == net.depth * per_block
    assert rep.by_op_type["Gemm"] == d * 10 + 10


@pytest.mark.slow
def test_memory_walk_sizes_every_activation(exported):
    # the onnxruntime run fills the shapes inference missed, so no tensor is counted as 0 bytes
    _, shape, proto = exported["resnet"]
    mem = peak_activation_memory(proto)
    assert mem.unknown_tensors == []
    assert mem.peak_bytes >= 2 * 16 * 32 * 32 * 4  # at least a block's input and output at 16x32x32 float


def _unsizable_model() -> onnx.ModelProto:
    """x -> custom-domain op (neither onnx nor onnxruntime knows it) -> MatMul with W -> Conv-free output."""
    w = numpy_helper.from_array(np.ones((8, 4), np.float32), "w")
    nodes = [helper.make_node("Mystery", ["x"], ["h"], domain="com.example"),
             helper.make_node("MatMul", ["h", "w"], ["y"], name="after_mystery"),
             helper.make_node("MatMul", ["x", "w"], ["z"], name="sized")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4]),
                           helper.make_tensor_value_info("z", TensorProto.FLOAT, ["N", 4])], [w])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)])
    m.ir_version = 10
    return m


def test_unsizable_node_is_reported_not_dropped():
    rep = count_macs(_unsizable_model())
    assert rep.unknown == ["after_mystery"]
    assert rep.total == 8 * 4  # the sized MatMul still counts
    assert rep.runtime_error and "onnxruntime" in rep.runtime_error
    assert rep.to_dict()["unknown_nodes"] == ["after_mystery"]


def test_rank_edge_metrics_name_unsized_nodes():
    from onnxscore.engine import RankSettings, _edge_metrics

    edge = _edge_metrics(_unsizable_model(), RankSettings())
    assert edge["macs"] == 32 and edge["macs_unknown_nodes"] == 1
    assert "after_mystery" in edge["macs_note"]
