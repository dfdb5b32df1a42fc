"""--activations extended against the frameworks' own activation modules: forward hooks (PyTorch) or the
layers' inputs (Keras) on the same weights and batch give 1[input > 0] per unit, and NASWOT from those
codes (tests/proxies/naive.py) equals onnxscore's on the converted model."""
from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

import onnxscore
from onnxscore.graph.sites import find_sites
from onnxscore.graph.view import GraphView
from tests.proxies import naive

torch = pytest.importorskip("torch", reason="needs torch: pip install 'onnxscore[torch]'")
nn = torch.nn
B = 64
REL = 1e-5


class Block(nn.Module):
    """A pre-norm transformer block: LayerNorm, one-head attention, LayerNorm, MLP with a GELU."""

    def __init__(self, dim: int, approximate: str):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(approximate=approximate), nn.Linear(2 * dim, dim))

    def forward(self, x):
        q, k, v = self.qkv(self.norm1(x)).chunk(3, dim=-1)
        att = torch.softmax(q @ k.transpose(1, 2) / q.shape[-1] ** 0.5, dim=-1)
        x = x + self.proj(att @ v)
        return x + self.mlp(self.norm2(x))


class TinyViT(nn.Module):
    """Patch-embedding Conv, two transformer blocks (exact and tanh GELU), mean-pooled head."""

    def __init__(self, dim: int = 16):
        super().__init__()
        self.embed = nn.Conv2d(3, dim, 4, stride=4)
        self.blocks = nn.Sequential(Block(dim, "none"), Block(dim, "tanh"))
        self.head = nn.Linear(dim, 10)

    def forward(self, x):
        t = self.embed(x).flatten(2).transpose(1, 2)
        return self.head(self.blocks(t).mean(1))


class SmoothCNN(nn.Module):
    """Conv-BN-SiLU, Conv-BN-Hardswish with a squeeze-excite Hardsigmoid gate, Conv-BN-Mish, FC SiLU."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.SiLU())
        self.c2 = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.Hardswish())
        self.se = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(8, 8, 1), nn.Hardsigmoid())
        self.c3 = nn.Sequential(nn.Conv2d(8, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.Mish())
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(16 * 8 * 8, 32), nn.SiLU(), nn.Linear(32, 10))

    def forward(self, x):
        y = self.c2(self.c1(x))
        return self.fc(self.c3(y * self.se(y)))


ACTS = (nn.GELU, nn.SiLU, nn.Hardswish, nn.Hardsigmoid, nn.Mish)


def hook_codes(net, x):
    """1[input > 0] of every activation module call, in call order (train mode: BN on batch statistics)."""
    codes = []
    hooks = [m.register_forward_hook(lambda mod, inp, out: codes.append((inp[0] > 0).flatten(1).numpy()))
             for m in net.modules() if isinstance(m, ACTS)]
    net.train()
    with torch.no_grad():
        net(x)
    for h in hooks:
        h.remove()
    return codes


def _convert(net, shape, opset):
    from onnxscore.converters import convert

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return convert(net, input_shape=shape, opset=opset)


def _check(net, x, model, n_sites):
    """onnxscore's extended codes equal the hooks' and NASWOT agrees; returns (relative error, flips)."""
    ref = hook_codes(net, x)
    assert len(ref) == n_sites
    scorer = onnxscore.Scorer(batch_size=B, data=x.numpy(), activations="extended")
    got = scorer.capture(model)
    assert [s.units for s in got] == [r.shape[1] for r in ref]
    flips = sum(int((s.unpacked().astype(bool) != r).sum()) for s, r in zip(got, ref))
    assert flips <= max(1, sum(r.size for r in ref) // 100_000)
    res = onnxscore.score(model, ["naswot"], batch_size=B, data=x.numpy(), activations="extended")
    want = naive.naswot(ref)
    err = abs(res.scores["naswot"] - want) / abs(want)
    assert err <= REL, (res.scores["naswot"], want)
    assert res.sites == n_sites
    return err, flips


@pytest.fixture(scope="module")
def vit():
    torch.manual_seed(0)
    return TinyViT(), torch.randn(B, 3, 16, 16)


def test_vit_gelu_erf_and_tanh_match_hooks(vit):
    net, x = vit
    model = _convert(net, (3, 16, 16), 18)
    ops = {n.op_type for n in model.graph.node}
    assert "Erf" in ops and "Tanh" in ops and "Gelu" not in ops  # opset 18: GELU arrives decomposed
    sites = find_sites(GraphView(model), "extended")
    assert [s.op_type for s in sites] == ["Gelu", "Gelu"]
    _check(net, x, model, 2)


def test_vit_opset20_gelu_op_gives_the_same_sites_and_score(vit):
    net, x = vit
    m18, m20 = _convert(net, (3, 16, 16), 18), _convert(net, (3, 16, 16), 20)
    assert sum(n.op_type == "Gelu" for n in m20.graph.node) == 2
    s18 = onnxscore.score(m18, ["naswot", "epads"], batch_size=B, data=x.numpy(), activations="extended")
    s20 = onnxscore.score(m20, ["naswot", "epads"], batch_size=B, data=x.numpy(), activations="extended")
    assert (s18.sites, s18.units) == (s20.sites, s20.units) == (2, 2 * 16 * 32)
    assert s18.scores["naswot"] == pytest.approx(s20.scores["naswot"], rel=REL)
    _check(net, x, m20, 2)


def test_vit_without_extended_says_how_many_extended_sites(vit):
    net, _ = vit
    with pytest.raises(onnxscore.OnnxscoreError) as exc:
        onnxscore.score(_convert(net, (3, 16, 16), 18), ["naswot"], batch_size=B)
    assert "2 activation sites with --activations extended (2 Gelu)" in str(exc.value)


def test_silu_hardswish_mish_cnn_matches_hooks():
    torch.manual_seed(1)
    net, x = SmoothCNN(), torch.randn(B, 3, 8, 8)
    model = _convert(net, (3, 8, 8), 18)
    sites = find_sites(GraphView(model), "extended")
    assert [s.op_type for s in sites] == ["Swish", "HardSwish", "HardSigmoid", "Mish", "Swish"]
    assert not any(n.op_type == "Sigmoid" and n.output[0] in {s.tensor for s in sites} for n in model.graph.node)
    _check(net, x, model, 5)


def _keras():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    tf = pytest.importorskip("tensorflow")
    pytest.importorskip("tf2onnx")
    return tf, pytest.importorskip("keras")


def _check_keras_net(tf, keras, net, inp, seed: int, op_types: list[str]) -> None:
    """Convert `net` (Activation layers, then a Dense with an activation, then a Dense head), and check
    the extended sites and NASWOT against the sign of every activation's input as Keras computes it
    (training=True: batch-statistics BN), on the same batch."""
    from onnxscore.converters import convert

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = convert(net)
    x = np.random.default_rng(seed).standard_normal((B, 8, 8, 3)).astype(np.float32)
    # the activations' inputs: every Activation layer's input, and the Dense layer's pre-activation
    dense = net.layers[-2]
    taps = [layer.input for layer in net.layers if isinstance(layer, keras.layers.Activation)] + [dense.input]
    outs = keras.Model(inp, taps)(tf.constant(x), training=True)
    pre = [np.asarray(o) for o in outs[:-1]]
    pre.append(np.asarray(outs[-1]) @ np.asarray(dense.kernel) + np.asarray(dense.bias))
    ref = [(p > 0).reshape(B, -1) for p in pre]
    sites = find_sites(GraphView(model), "extended")
    assert [s.op_type for s in sites] == op_types
    res = onnxscore.score(model, ["naswot"], batch_size=B, data=x, activations="extended")
    assert res.sites == len(op_types) and res.units == sum(r.shape[1] for r in ref)
    want = naive.naswot(ref)
    assert abs(res.scores["naswot"] - want) / abs(want) <= REL, (res.scores["naswot"], want)


def test_keras_swish_mish_hard_silu_net_matches_keras():
    tf, keras = _keras()
    keras.utils.set_random_seed(3)
    inp = keras.Input((8, 8, 3))
    a = keras.layers.Activation("swish")(keras.layers.BatchNormalization()(keras.layers.Conv2D(8, 3, padding="same")(inp)))
    b = keras.layers.Activation("mish")(keras.layers.Conv2D(8, 3, padding="same")(a))
    c = keras.layers.Activation("hard_silu")(keras.layers.Conv2D(8, 3, padding="same")(b))
    d = keras.layers.Dense(16, activation="swish")(keras.layers.Flatten()(c))
    net = keras.Model(inp, keras.layers.Dense(10)(d))
    _check_keras_net(tf, keras, net, inp, 0, ["Swish", "Mish", "HardSwish", "Swish"])


def test_keras_gelu_erf_and_tanh_match_keras():
    """TensorFlow writes exact GELU as 0.5 x erfc(-x / sqrt 2) and tf2onnx puts layout Transposes inside
    both forms: each is still one site, coded by its input's sign as Keras computes it."""
    tf, keras = _keras()
    keras.utils.set_random_seed(4)
    inp = keras.Input((8, 8, 3))
    a = keras.layers.Activation(lambda t: keras.activations.gelu(t, approximate=False))(
        keras.layers.BatchNormalization()(keras.layers.Conv2D(8, 3, padding="same")(inp)))
    b = keras.layers.Activation(lambda t: keras.activations.gelu(t, approximate=True))(
        keras.layers.Conv2D(8, 3, padding="same")(a))
    d = keras.layers.Dense(16, activation="gelu")(keras.layers.Flatten()(b))
    net = keras.Model(inp, keras.layers.Dense(10)(d))
    _check_keras_net(tf, keras, net, inp, 1, ["Gelu", "Gelu", "Gelu"])
