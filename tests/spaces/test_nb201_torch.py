"""The ONNX NB201 build against the xautodl-faithful PyTorch build with the same weights."""

from collections import Counter

import numpy as np
import onnx
import onnxruntime as ort
import pytest

torch = pytest.importorskip("torch")

from onnxscore.errors import InputError  # noqa: E402
from onnxscore.spaces import nb201  # noqa: E402
from onnxscore.spaces import nb201_torch as nt  # noqa: E402

INDEX0 = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
INDEX1 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
DEAD = "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|nor_conv_1x1~2|"
MIXED = "|nor_conv_1x1~0|+|none~0|nor_conv_3x3~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|"


def _ort_logits(model, x):
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


def _torch_logits(net, x, train=True):
    net.train(train)
    with torch.no_grad():
        return net(torch.from_numpy(x)).numpy()


@pytest.mark.parametrize("arch,ds", [(INDEX0, "cifar10"), (INDEX1, "cifar100"), (MIXED, "ImageNet16-120"),
                                     (DEAD, "cifar10")])
def test_same_logits_train_mode_bn(arch, ds):
    side, k = nb201.DATASETS[ds]
    model = nb201.build_model(arch, ds, seed=11)
    onnx.checker.check_model(model, full_check=True)
    net = nt.load_weights_from_onnx(nt.build_torch(arch, ds), model)
    x = np.random.default_rng(1).standard_normal((8, 3, side, side)).astype(np.float32)
    y_onnx, y_torch = _ort_logits(model, x), _torch_logits(net, x)
    assert y_onnx.shape == (8, k)
    # float32 torch itself differs from a float64 run by up to ~1e-4 here (train-mode BN over small
    # batches, 17 blocks); semantic slips (padding, BN mode) show up as >1e-2.
    np.testing.assert_allclose(y_onnx, y_torch, atol=3e-4, rtol=1e-3)
    if arch != DEAD:  # not a trivially constant network: the comparison means something
        assert np.abs(y_torch - y_torch[0]).max() > 1e-4


def test_relu_calls_equal_onnx_relu_nodes():
    model = nb201.build_model(INDEX1, "cifar10", seed=0)
    net = nt.build_torch(INDEX1)
    calls = []
    hooks = [m.register_forward_hook(lambda *a: calls.append(1)) for m in net.modules()
             if isinstance(m, torch.nn.ReLU)]
    with torch.no_grad():
        net(torch.zeros(2, 3, 32, 32))
    for h in hooks:
        h.remove()
    assert len(calls) == sum(n.op_type == "Relu" for n in model.graph.node) == 50


def test_state_dict_matches_initializers_and_param_count():
    model = nb201.build_model(MIXED, "cifar100", seed=0)
    net = nt.build_torch(MIXED, "cifar100")
    keys = {k for k in net.state_dict() if not k.endswith("num_batches_tracked")}
    assert keys == {t.name for t in model.graph.initializer}
    assert sum(p.numel() for p in net.parameters()) == nb201.params(MIXED, 100)


def test_load_weights_rejects_other_arch():
    model = nb201.build_model(INDEX0, "cifar10", seed=0)
    with pytest.raises(InputError):
        nt.load_weights_from_onnx(nt.build_torch(INDEX1), model)
    with pytest.raises(InputError):  # 100-class head vs 10-class initializers
        nt.load_weights_from_onnx(nt.build_torch(INDEX0, "cifar100"), model)


@pytest.mark.slow
def test_dynamo_export_keeps_every_relu_and_bn():
    net = nt.build_torch(INDEX1, seed=0)
    exported = nt.export_onnx(net, "cifar10")
    built = nb201.build_model(INDEX1, "cifar10")
    c_exp = Counter(n.op_type for n in exported.graph.node)
    c_built = Counter(n.op_type for n in built.graph.node)
    assert exported.ir_version == 10
    assert c_exp["Relu"] == c_built["Relu"] == 50
    assert c_exp["BatchNormalization"] == c_built["BatchNormalization"] == 51
    x = np.random.default_rng(2).standard_normal((5, 3, 32, 32)).astype(np.float32)  # dynamic batch
    np.testing.assert_allclose(_ort_logits(exported, x), _torch_logits(net, x, train=False), atol=1e-4, rtol=0)
