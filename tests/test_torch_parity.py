"""onnxscore on a PyTorch export captures the codes PyTorch forward hooks capture (train-mode BN)."""
from __future__ import annotations

import io

import numpy as np
import pytest

import onnxscore
from tests.proxies import naive

torch = pytest.importorskip("torch", reason="PyTorch parity needs torch: pip install 'onnxscore[torch]'")
nn = torch.nn
B = 64


class SmallNet(nn.Module):
    """Conv-BN-ReLU x3 (one with ReLU6), pooling, and an FC ReLU: the papers' kind of network."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
            nn.Conv2d(16, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU6(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 24), nn.ReLU(), nn.Linear(24, 10))

    def forward(self, x):
        return self.body(x)


def hook_codes(model, x):
    """Codes the authors' way: a forward hook on every ReLU module records input > 0."""
    codes = []
    hooks = [m.register_forward_hook(lambda mod, inp, out: codes.append((inp[0] > 0).flatten(1).numpy()))
             for m in model.modules() if isinstance(m, (nn.ReLU, nn.ReLU6))]
    model.train()
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return codes


@pytest.fixture(scope="module")
def exported():
    torch.manual_seed(0)
    net = SmallNet()
    x = torch.randn(B, 3, 16, 16)
    buf = io.BytesIO()
    torch.onnx.export(net, (x,), buf, dynamo=False, training=torch.onnx.TrainingMode.TRAINING,
                      do_constant_folding=False, input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    return net, x, buf.getvalue()


def test_codes_match_forward_hooks(exported):
    net, x, model = exported
    ref = hook_codes(net, x)
    got = onnxscore.Scorer(batch_size=B, data=x.numpy()).capture(model)
    assert len(got) == len(ref) == 4
    flipped = sum(int((s.unpacked().astype(bool) != r).sum()) for s, r in zip(got, ref))
    total = sum(r.size for r in ref)
    assert flipped <= max(1, total // 100_000), f"{flipped} of {total} codes differ"


def test_naswot_and_swap_agree_with_torch(exported):
    net, x, model = exported
    ref = hook_codes(net, x)
    res = onnxscore.score(model, ["naswot", "swap"], batch_size=B, data=x.numpy())
    assert res.scores["naswot"] == pytest.approx(naive.naswot(ref), rel=1e-6)
    assert res.scores["swap"] == pytest.approx(naive.swap(ref[:3]), rel=1e-4)  # conv ReLUs only


class SharedInput(nn.Module):
    """Two ReLU modules applied to the same tensor (NB201's edges leaving one node)."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8))
        self.a = nn.Sequential(nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8))
        self.b = nn.Sequential(nn.ReLU(), nn.Conv2d(8, 8, 1, bias=False), nn.BatchNorm2d(8))

    def forward(self, x):
        s = self.stem(x)
        return self.a(s) + self.b(s)


def test_merged_relu_counts_once_or_per_consumer():
    """The legacy exporter merges the two ReLUs; --merged-sites per-consumer restores the hooks'
    count, and the warning names the issue when counting once."""
    torch.manual_seed(1)
    net = SharedInput()
    x = torch.randn(32, 3, 8, 8)
    buf = io.BytesIO()
    torch.onnx.export(net, (x,), buf, dynamo=False, training=torch.onnx.TrainingMode.TRAINING,
                      do_constant_folding=False, input_names=["x"], dynamic_axes={"x": {0: "b"}})
    ref = hook_codes(net, x)
    assert len(ref) == 2
    once = onnxscore.score(buf.getvalue(), ["naswot"], batch_size=32, data=x.numpy())
    per = onnxscore.score(buf.getvalue(), ["naswot"], batch_size=32, data=x.numpy(),
                          merged_sites="per-consumer")
    assert once.sites == 1 and per.sites == 2
    assert any("merged" in w for w in once.warnings) and not per.warnings
    assert per.scores["naswot"] == pytest.approx(naive.naswot(ref), rel=1e-6)
    assert once.scores["naswot"] == pytest.approx(naive.naswot(ref[:1]), rel=1e-6)
