"""Framework-side references for the converter tests: small CNNs (BatchNorm + ReLU family) built in
Keras, PaddlePaddle and PyTorch, their activation codes computed by the framework itself (BN with
batch statistics), NASWOT/SWAP written out from PROXIES.md, and the ONNX side's pre-activations.

Every framework import is inside a function: importing this module imports no framework.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx

ROOT = Path(__file__).resolve().parents[2]
SEED = 0
H = W = 12  # small images keep every test well under a minute
B = 64  # batch for the agreement tests: large enough for a non-singular NASWOT kernel


# -- the proxies, straight from PROXIES.md ---------------------------------------------------------

def naswot(codes: list[np.ndarray]) -> float:
    """log|det K|, K = sum over sites of C C^T + (1-C)(1-C)^T (one kernel for the whole net)."""
    b = codes[0].shape[0]
    k = np.zeros((b, b), dtype=np.float64)
    for c in codes:
        c = c.reshape(b, -1).astype(np.float64)
        k += c @ c.T + (1.0 - c) @ (1.0 - c).T
    return float(np.linalg.slogdet(k)[1])


def swap(codes: list[np.ndarray]) -> float:
    """Distinct sample-wise patterns (columns) over the sites whose input is 4-D."""
    b = codes[0].shape[0]
    cols = np.concatenate([c.reshape(b, -1) for c in codes if c.ndim == 4], axis=1)
    return float(len({col.tobytes() for col in np.packbits(cols.T.astype(np.uint8), axis=1)}))


def relative(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-300)


def batch(shape: tuple[int, ...], n: int, seed: int = SEED) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, *shape)).astype(np.float32)


# -- the ONNX side: each site's pre-activation, with BatchNorm on batch statistics ----------------

def onnx_preactivations(model: onnx.ModelProto, x: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """(op_type, input tensor) of every activation site, in the scorer's site order."""
    import onnxruntime as ort

    from onnxscore.graph.batchnorm import use_batch_statistics
    from onnxscore.graph.sites import find_sites
    from onnxscore.graph.view import GraphView

    work = onnx.ModelProto()
    work.CopyFrom(model)
    use_batch_statistics(work)
    view = GraphView(work)
    nodes = {n.name or n.output[0]: n for n in work.graph.node}
    sites = find_sites(view)
    names = [nodes[s.node].input[0] for s in sites]
    present = {o.name for o in work.graph.output}
    for name in dict.fromkeys(names):
        if name not in present:
            work.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    so = ort.SessionOptions()
    so.log_severity_level = 3  # paddle's running stats are Constants the rewrite leaves unused
    sess = ort.InferenceSession(work.SerializeToString(), so, providers=["CPUExecutionProvider"])
    feed = {sess.get_inputs()[0].name: x}
    outs = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feed)))
    return [(s.op_type, outs[n]) for s, n in zip(sites, names)]


def run_onnx(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    """First output of the model as exported (no BN change)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


def align(ref: list[np.ndarray], ours: list[np.ndarray]) -> list[tuple[int, np.ndarray]]:
    """For each framework site, the ONNX site array (put in the framework's layout) whose codes
    agree with it best. Channels-last references are matched against NCHW tensors transposed."""
    out = []
    free = list(range(len(ours)))
    for r in ref:
        best, best_arr, best_agree = None, None, -1.0
        for j in free:
            a = ours[j]
            for cand in (a, np.transpose(a, (0, 2, 3, 1)) if a.ndim == 4 else None):
                if cand is None or cand.shape != r.shape:
                    continue
                agree = float(np.mean((cand > 0) == r))
                if agree > best_agree:
                    best, best_arr, best_agree = j, cand, agree
        assert best is not None, f"no ONNX site has the shape {r.shape} of a framework activation"
        free.remove(best)
        out.append((best, best_arr))
    return out


def flipped_units(ref_codes: list[np.ndarray], onnx_pre: list[np.ndarray]) -> tuple[int, float]:
    """(units whose code differs, largest |pre-activation| among them relative to the site's scale)."""
    flips, worst = 0, 0.0
    for r, (_, a) in zip(ref_codes, align(ref_codes, onnx_pre)):
        diff = (a > 0) != r
        flips += int(diff.sum())
        if diff.any():
            worst = max(worst, float(np.abs(a[diff]).max() / (np.abs(a).max() + 1e-30)))
    return flips, worst


# -- Keras ----------------------------------------------------------------------------------------

def keras_net():
    """Conv(relu)-BN, Conv-BN-ReLU, two ReLU layers on one tensor, BN-ReLU6, LeakyReLU, PReLU,
    Dense(relu): 8 activation calls, 7 of them on 4-D feature maps. No Dropout, so Keras
    `training=True` is exactly "BN with batch statistics"."""
    import keras

    keras.utils.set_random_seed(SEED)
    L = keras.layers
    inp = keras.Input((H, W, 3))
    x = L.Conv2D(8, 3, padding="same", activation="relu")(inp)
    x = L.BatchNormalization()(x)
    x = L.Conv2D(8, 3, padding="same")(x)
    x = L.BatchNormalization()(x)
    x = L.ReLU()(x)
    a = L.Conv2D(8, 1)(L.ReLU()(x))
    b = L.Conv2D(8, 3, padding="same")(L.ReLU()(x))
    x = L.BatchNormalization()(L.Add()([a, b]))
    x = L.ReLU(max_value=6.0)(x)
    x = L.LeakyReLU(negative_slope=0.1)(L.Conv2D(8, 3, padding="same")(x))
    x = L.PReLU(alpha_initializer=keras.initializers.Constant(0.25))(L.Conv2D(8, 3, padding="same")(x))
    x = L.GlobalAveragePooling2D()(x)
    x = L.Dense(16, activation="relu")(x)
    out = L.Dense(5)(x)
    return keras.Model(inp, out)


KERAS_ACTIVATIONS = 8


def keras_codes(model, x: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Codes (output > 0) of every activation in Keras with training=True, and the model output."""
    import keras

    acts = []
    for layer in model.layers:
        cfg_act = getattr(layer, "activation", None)
        is_act = isinstance(layer, (keras.layers.ReLU, keras.layers.LeakyReLU, keras.layers.PReLU))
        if is_act or getattr(cfg_act, "__name__", "") == "relu":
            acts.append(layer.output)
    probe = keras.Model(model.input, [*acts, model.output])
    outs = [keras.ops.convert_to_numpy(o) for o in probe(x, training=True)]
    return [o > 0 for o in outs[:-1]], outs[-1]


# -- PyTorch --------------------------------------------------------------------------------------

def torch_net():
    """Factory (used as tests.converters.framework_proxies:torch_net): the NAS-Bench-201 pattern of
    two ReLU modules reading one tensor, BN everywhere, ReLU6, LeakyReLU, PReLU, Linear+ReLU."""
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.b1, self.r1 = nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(inplace=True)
            self.ra, self.rb = nn.ReLU(), nn.ReLU()
            self.ca, self.ba = nn.Conv2d(8, 8, 1), nn.BatchNorm2d(8)
            self.cb, self.bb = nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8)
            self.r6 = nn.ReLU6()
            self.c2, self.lr = nn.Conv2d(8, 8, 3, padding=1), nn.LeakyReLU(0.1)
            self.c3, self.pr = nn.Conv2d(8, 8, 3, padding=1), nn.PReLU(8)
            self.fc, self.fr, self.out = nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 5)
            self.drop = nn.Dropout(0.5)

        def forward(self, x):
            x = self.r1(self.b1(self.c1(x)))
            x = self.ba(self.ca(self.ra(x))) + self.bb(self.cb(self.rb(x)))
            x = self.r6(x)
            x = self.pr(self.c3(self.lr(self.c2(x))))
            x = self.fr(self.fc(x.mean((2, 3))))
            return self.out(self.drop(x))

    torch.manual_seed(SEED)
    return Net()


TORCH_ACTIVATIONS = 7


def torch_codes(model, x: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Codes (input > 0) at every activation module call in train mode (BN batch statistics,
    Dropout off), and the model output; the model's mode is restored."""
    import torch
    from torch import nn

    kinds = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU)
    codes: list[np.ndarray] = []
    hooks = [m.register_forward_pre_hook(lambda m, inp: codes.append(inp[0].detach().numpy() > 0))
             for m in model.modules() if isinstance(m, kinds)]
    was = model.training
    model.train()
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.eval()
    try:
        with torch.no_grad():
            y = model(torch.from_numpy(x)).numpy()
    finally:
        for h in hooks:
            h.remove()
        model.train(was)
    return codes, y


# -- PaddlePaddle ---------------------------------------------------------------------------------

def paddle_net():
    """The PyTorch net's twin in Paddle (two ReLUs on one tensor, BN, ReLU6, LeakyReLU, PReLU,
    hardtanh(0, 3), Linear+ReLU): 8 activation calls."""
    import paddle
    from paddle import nn

    class Net(nn.Layer):
        def __init__(self):
            super().__init__()
            self.c1, self.b1, self.r1 = nn.Conv2D(3, 8, 3, padding=1), nn.BatchNorm2D(8), nn.ReLU()
            self.ra, self.rb = nn.ReLU(), nn.ReLU()
            self.ca, self.ba = nn.Conv2D(8, 8, 1), nn.BatchNorm2D(8)
            self.cb, self.bb = nn.Conv2D(8, 8, 3, padding=1), nn.BatchNorm2D(8)
            self.r6 = nn.ReLU6()
            self.c2, self.lr = nn.Conv2D(8, 8, 3, padding=1), nn.LeakyReLU(0.1)
            self.c3, self.pr = nn.Conv2D(8, 8, 3, padding=1), nn.PReLU(8, init=0.25)
            self.ht = nn.Hardtanh(0.0, 3.0)
            self.fc, self.fr, self.out = nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 5)
            self.drop = nn.Dropout(0.5)

        def forward(self, x):
            x = self.r1(self.b1(self.c1(x)))
            x = self.ba(self.ca(self.ra(x))) + self.bb(self.cb(self.rb(x)))
            x = self.r6(x)
            x = self.ht(self.pr(self.c3(self.lr(self.c2(x)))))
            x = self.fr(self.fc(x.mean(axis=[2, 3])))
            return self.out(self.drop(x))

    paddle.seed(SEED)
    return Net()


PADDLE_ACTIVATIONS = 8


def paddle_codes(model, x: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Codes (input > 0) at every activation layer call in train mode (BN batch statistics,
    Dropout off), and the model output."""
    import paddle
    from paddle import nn

    kinds = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.Hardtanh)
    codes: list[np.ndarray] = []
    hooks = [m.register_forward_pre_hook(lambda m, inp: codes.append(inp[0].numpy() > 0))
             for m in model.sublayers() if isinstance(m, kinds)]
    was = model.training
    model.train()
    for m in model.sublayers():
        if isinstance(m, nn.Dropout):
            m.eval()
    try:
        with paddle.no_grad():
            y = model(paddle.to_tensor(x)).numpy()
    finally:
        for h in hooks:
            h.remove()
        model.train() if was else model.eval()
    return codes, y


def paddle_eval_output(model, x: np.ndarray) -> np.ndarray:
    import paddle

    model.eval()
    with paddle.no_grad():
        return model(paddle.to_tensor(x)).numpy()


# -- shared checks ----------------------------------------------------------------------------------

def assert_scores_match_framework(model: onnx.ModelProto, codes: list[np.ndarray], x: np.ndarray,
                                  n_activations: int) -> None:
    """onnxscore on the converted model vs the framework's own train-mode codes on the same batch:
    same sites and units, NASWOT within 1e-6 and SWAP within 1e-4 relative, and any unit whose code
    differs must sit within 1e-5 of its site's scale from zero (float rounding, not a wrong graph)."""
    import onnxscore

    assert len(codes) == n_activations
    res = onnxscore.score(model, proxies=["naswot", "swap"], data=x, batch_size=B)
    assert res.sites == len(codes)
    assert res.units == sum(c[0].size for c in codes)
    assert relative(res.scores["naswot"], naswot(codes)) < 1e-6
    assert relative(res.scores["swap"], swap(codes)) < 1e-4
    flips, worst = flipped_units(codes, [a for _, a in onnx_preactivations(model, x)])
    assert worst < 1e-5, f"{flips} units flipped, one with |pre-activation| {worst:.2e} of its site's scale"
