"""VKDNW of NB201 nets (one cell per stage) against the authors' PyTorch code on the same weights and batch."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from onnxscore.proxies import vkdnw  # noqa: E402
from onnxscore.proxies.vkdnw import fisher as fi  # noqa: E402
from onnxscore.proxies.vkdnw.jacobian import jacobian  # noqa: E402
from onnxscore.proxies.vkdnw.params import find_params  # noqa: E402
from onnxscore.spaces import nb201  # noqa: E402
from tests.proxies.vkdnw import torch_ref as ref  # noqa: E402

ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|skip_connect~2|"
B = 8


def pair(arch: str = ARCH, dataset: str = "cifar10", seed: int = 3):
    from onnxscore.spaces import nb201_torch as nt
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(nb201, "N_CELLS", 1)
        model = nb201.build_model(arch, dataset, seed=seed)
        net = nt.load_weights_from_onnx(nt.build_torch(arch, dataset), model)
    return model, net


@pytest.fixture(scope="module")
def case():
    model, net = pair()
    x = np.random.default_rng(5).standard_normal((B, 3, 32, 32)).astype(np.float32)
    return model, net, x


def rel(a, b) -> float:
    return float(np.abs(np.asarray(a) - np.asarray(b)).max() / np.abs(np.asarray(b)).max())


def test_parameter_order_is_named_parameters(case):
    model, net, _ = case
    assert [p.name for p in find_params(model)] == [k for k, _ in net.named_parameters()]


@pytest.mark.parametrize("max_tensors", [8, 1000])
def test_matches_pytorch(case, max_tensors):
    model, net, x = case
    jac_t, f_t, q_t, ent_t = ref.vkdnw(net, torch.from_numpy(x), max_tensors)
    params = find_params(model)[:max_tensors]
    logits, jac = jacobian(model, params, x)
    assert jac.shape == tuple(jac_t.shape)
    assert rel(jac, jac_t.numpy()) < 1e-4
    assert rel(logits, net(torch.from_numpy(x)).detach().numpy()) < 1e-5
    f = fi.fisher(logits, jac)
    assert rel(f, f_t.numpy()) < 1e-4
    res = vkdnw.compute(model, x, max_tensors=max_tensors)
    assert res.reason is None and res.dim == len(list(net.named_parameters()))
    np.testing.assert_allclose(res.deciles, q_t.numpy(), rtol=1e-3, atol=1e-4 * float(q_t.max()))
    assert abs(res.entropy - ent_t) < 1e-3


def test_cholesky_matches_pytorch():
    z = np.random.default_rng(1).standard_normal((5, 7)).astype(np.float32) * 3
    got = fi.cholesky_covariance(z)
    want = ref.cholesky_covariance(torch.from_numpy(z)).numpy()
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_model_is_not_modified(case):
    model, _, x = case
    before = model.SerializeToString()
    vkdnw.compute(model, x[:2], max_tensors=4)
    assert model.SerializeToString() == before


@pytest.mark.parametrize("arch", [
    "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
    "|nor_conv_1x1~0|+|skip_connect~0|avg_pool_3x3~1|+|none~0|none~1|nor_conv_3x3~2|",
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",
])
def test_dim_is_number_of_named_parameters(arch):
    model, net = pair(arch, "cifar100")
    k = sum(op.startswith("nor_conv") for op in nb201.to_ops(arch))
    from onnxscore.proxies.vkdnw.params import dim
    from onnxscore.spaces import nb201_torch as nt
    assert dim(model) == len(list(net.named_parameters())) == 21 + 9 * k  # 3 cells: 3 * 3 per conv edge
    full = nb201.build_model(arch, "cifar100")
    assert dim(full) == len(list(nt.build_torch(arch, "cifar100").named_parameters())) == 21 + 45 * k
    assert [p.name for p in find_params(full)] == [n for n, _ in nt.build_torch(arch, "cifar100").named_parameters()]


def test_parameters_the_logits_do_not_depend_on_get_zero_columns():
    """An all-zero output node multiplies the conv before it away: torch gives those columns zeros."""
    arch = "|none~0|+|nor_conv_3x3~0|none~1|+|avg_pool_3x3~0|none~1|none~2|"
    model, net = pair(arch)
    x = np.random.default_rng(6).standard_normal((B, 3, 32, 32)).astype(np.float32)
    jac_t, _, _, ent_t = ref.vkdnw(net, torch.from_numpy(x), 1000)
    logits, jac = jacobian(model, find_params(model), x)
    dead = np.all(jac_t.numpy() == 0, axis=(0, 1))
    assert dead.any() and not dead.all()
    assert np.all(jac[:, :, dead] == 0)
    assert rel(jac, jac_t.numpy()) < 1e-4
    res = vkdnw.compute(model, x)
    assert res.reason is None and abs(res.entropy - ent_t) < 1e-3
