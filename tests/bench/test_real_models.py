"""The real-model suite's reference MAC counter and its table (bench/real_models.py).

The counter (PyTorch's own FLOP counter, halved, plus Linear biases) is checked against onnxscore's
count on nets that exercise what forward hooks miss: attention matmuls with no module to hook. The
suite's torchvision members run when torchvision is importable (it needs a torch build that matches it,
which CI's CPU torch 2.13.0 has not: `python bench/real_models.py` is where the whole suite runs)."""
from __future__ import annotations

import pytest

from bench import real_models as RM
from onnxscore.edge.macs import count_macs

torch = pytest.importorskip("torch", reason="needs torch: pip install '.[torch]'")
nn = torch.nn


class Attention(nn.Module):
    def __init__(self, d=32, heads=4):
        super().__init__()
        self.qkv, self.proj, self.heads = nn.Linear(d, 3 * d), nn.Linear(d, d), heads

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(x).reshape(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        y = nn.functional.scaled_dot_product_attention(q, k, v)
        return self.proj(y.transpose(1, 2).reshape(b, t, d))


class TinyViT(nn.Module):
    def __init__(self):
        super().__init__()
        self.patch = nn.Conv2d(3, 32, 4, 4)
        self.attn = Attention()
        self.mlp = nn.Sequential(nn.Linear(32, 64), nn.GELU(), nn.Linear(64, 32))
        self.head = nn.Linear(32, 10)

    def forward(self, x):
        t = self.patch(x).flatten(2).transpose(1, 2)
        t = t + self.attn(t)
        t = t + self.mlp(t)
        return self.head(t.mean(1))


class Encoder(nn.Module):
    """nn.TransformerEncoderLayer: in eval mode under no_grad PyTorch runs it as one fused kernel."""

    def __init__(self):
        super().__init__()
        self.patch = nn.Conv2d(3, 32, 4, 4)
        self.layer = nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True)
        self.head = nn.Linear(32, 10)

    def forward(self, x):
        return self.head(self.layer(self.patch(x).flatten(2).transpose(1, 2)).mean(1))


def _cnn():
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=4), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))


@pytest.mark.parametrize("factory,shape", [(TinyViT, (3, 16, 16)), (Encoder, (3, 16, 16)), (_cnn, (3, 16, 16))])
def test_reference_counter_agrees_with_onnxscore(factory, shape):
    from onnxscore.converters.torch import export_module

    torch.manual_seed(0)
    net = factory().eval()
    ref = RM.torch_macs(net, shape)
    assert ref > 0
    rep = count_macs(export_module(net, shape)[0])
    assert rep.unknown == []
    assert abs(rep.total - ref) <= 0.01 * ref, (rep.total, ref, rep.by_op_type)


def test_reference_counter_sees_attention_matmuls():
    net = TinyViT().eval()
    t = (16 // 4) ** 2
    hooks_only = (t * 3 * 32 * 32 + t * 3 * 32) + (t * 32 * 32 + t * 32) + (t * 32 * 64 + t * 64) \
        + (t * 64 * 32 + t * 32) + (10 * 32 + 10) + t * 32 * 3 * 16
    assert RM.torch_macs(net, (3, 16, 16)) == hooks_only + 2 * t * t * 32  # q k^T and attn v


def test_table_lists_scored_and_failed_rows():
    row = {"model": "m", "framework": "torchvision", "family": "F", "batch_size": 16, "activations": "extended",
           "sites": 3, "units": 100, "params": 10, "framework_params": 10, "macs": 2_000_000,
           "torch_macs": 2_000_000, "scores": {"epads": 1.5, "naswot": 2.0, "swap": 16.0}, "errors": {},
           "warnings": ["swap is saturated ..."], "convert_s": 1.0, "score_s": 2.0, "latency_ms": 3.0,
           "latency_graph": "inference", "peak_rss_mib": 100.0}
    bad = {"model": "n", "framework": "keras", "family": "F", "batch_size": 16, "error": "ConverterError: x"}
    md = RM.render([row, bad], "python bench/real_models.py")
    assert "| m | torchvision | 3 ext |" in md and "16 sat" in md and "(+0.00 %)" in md
    assert "- n (keras): ConverterError: x" in md


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_small"])
def test_torchvision_members_macs_within_one_percent(name):
    torchvision = pytest.importorskip("torchvision", reason="torchvision needs a torch build it matches; "
                                      "bench/real_models.py runs the whole suite")
    from onnxscore.converters.torch import export_module

    torch.manual_seed(0)
    net = getattr(torchvision.models, name)(weights=None).eval()
    ref = RM.torch_macs(net, (3, 224, 224))
    rep = count_macs(export_module(net, (3, 224, 224))[0])
    assert rep.unknown == [] and abs(rep.total - ref) <= 0.01 * ref
