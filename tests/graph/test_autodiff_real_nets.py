"""The reverse-mode pass on real architectures, end to end through onnxscore's converters: small-input
twins of torchvision's ResNet-18 and MobileNetV3-small (plain torch, torchvision is not a dependency)
against PyTorch autograd, and a Keras CNN through tf2onnx against tf.GradientTape. Per tensor,
||ours - ref|| / ||ref|| <= 1e-4 for the input gradient, every Conv/Gemm/MatMul weight gradient and
GraSP's Hessian-vector product h = H g through train-mode BatchNorm.

bench/real_model_gradients.py runs the same check (the same functions) on the real torchvision models
at 3x224x224; its table is in bench/results/real_model_gradients.md.
"""
from __future__ import annotations

import os
import warnings
from functools import partial

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxscript")  # the torch converter's dynamo exporter needs it
from torch import nn  # noqa: E402

from bench.real_model_gradients import compare_torch, gradient_model, onnx_gradients, rel_norm_err  # noqa: E402

TOL = 1e-4


# ----------------------------------------------------------------------------- ResNet-18 (torchvision.models.resnet)

class BasicBlock(nn.Module):
    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)  # one module called twice, as in torchvision
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


class ResNet18(nn.Module):
    """torchvision's resnet18 (BasicBlock x [2, 2, 2, 2]) with base width `width` instead of 64."""

    def __init__(self, width=16, num_classes=10):
        super().__init__()
        self.inplanes = width
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(width, 2)
        self.layer2 = self._make_layer(2 * width, 2, 2)
        self.layer3 = self._make_layer(4 * width, 2, 2)
        self.layer4 = self._make_layer(8 * width, 2, 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(8 * width, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def _make_layer(self, planes, blocks, stride=1):
        down = None
        if stride != 1 or self.inplanes != planes:
            down = nn.Sequential(nn.Conv2d(self.inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))
        layers = [BasicBlock(self.inplanes, planes, stride, down)]
        self.inplanes = planes
        layers += [BasicBlock(planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


# ------------------------------------------------------------------ MobileNetV3-small (torchvision.models.mobilenetv3)

def _make_divisible(v, divisor=8):
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


class ConvBNAct(nn.Sequential):
    """torchvision.ops.Conv2dNormActivation: Conv (no bias) + BN + activation, 'same' padding."""

    def __init__(self, cin, cout, k=3, stride=1, groups=1, act=None, norm=None):
        layers = [nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False), norm(cout)]
        if act is not None:
            layers.append(act(inplace=True))
        super().__init__(*layers)


class SqueezeExcitation(nn.Module):
    """torchvision.ops.SqueezeExcitation with MobileNetV3's Hardsigmoid scale."""

    def __init__(self, channels, squeeze):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.activation = nn.ReLU()
        self.scale_activation = nn.Hardsigmoid()

    def forward(self, x):
        return self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x))))) * x


class InvertedResidual(nn.Module):
    def __init__(self, cin, k, exp, cout, use_se, act, stride, norm):
        super().__init__()
        self.use_res_connect = stride == 1 and cin == cout
        act = nn.Hardswish if act == "HS" else nn.ReLU
        layers = [] if exp == cin else [ConvBNAct(cin, exp, 1, act=act, norm=norm)]
        layers.append(ConvBNAct(exp, exp, k, stride, groups=exp, act=act, norm=norm))  # depthwise
        if use_se:
            layers.append(SqueezeExcitation(exp, _make_divisible(exp // 4)))
        layers.append(ConvBNAct(exp, cout, 1, norm=norm))
        self.block = nn.Sequential(*layers)

    def forward(self, x):
        out = self.block(x)
        return out + x if self.use_res_connect else out


# torchvision's mobilenet_v3_small setting: input, kernel, expanded, output, SE, activation, stride
SMALL = [(16, 3, 16, 16, True, "RE", 2), (16, 3, 72, 24, False, "RE", 2), (24, 3, 88, 24, False, "RE", 1),
         (24, 5, 96, 40, True, "HS", 2), (40, 5, 240, 40, True, "HS", 1), (40, 5, 240, 40, True, "HS", 1),
         (40, 5, 120, 48, True, "HS", 1), (48, 5, 144, 48, True, "HS", 1), (48, 5, 288, 96, True, "HS", 2),
         (96, 5, 576, 96, True, "HS", 1), (96, 5, 576, 96, True, "HS", 1)]


class MobileNetV3Small(nn.Module):
    """torchvision's mobilenet_v3_small at full width, its init, BN eps 1e-3; 10 classes."""

    def __init__(self, num_classes=10, last_channel=1024, dropout=0.2):
        super().__init__()
        norm = partial(nn.BatchNorm2d, eps=0.001, momentum=0.01)
        layers = [ConvBNAct(3, 16, 3, 2, act=nn.Hardswish, norm=norm)]
        layers += [InvertedResidual(*cfg, norm=norm) for cfg in SMALL]
        layers.append(ConvBNAct(96, 576, 1, act=nn.Hardswish, norm=norm))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        # Dropout is kept (torchvision's module); the export is in eval mode and the reference sets p = 0
        self.classifier = nn.Sequential(nn.Linear(576, last_channel), nn.Hardswish(inplace=True),
                                        nn.Dropout(p=dropout, inplace=True), nn.Linear(last_channel, num_classes))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def _check(errs, tensors, acts, pools):
    assert errs["tensors"] == tensors and errs["acts"] == acts and errs["pools"] == pools, errs
    assert errs["loss"] <= 1e-5, errs["loss"]
    assert errs["input"] <= TOL, errs["input"]
    assert max(errs["weights"].values()) <= TOL, errs["weights"]
    assert max(errs["hvp"].values()) <= TOL, errs["hvp"]


def test_resnet18_twin_gradients_and_hvp_match_pytorch():
    # 3x64x64, B=8: layer4 sees 2x2 maps (BN over 32 values). Reference: float64 autograd with
    # onnxruntime's ReLU masks and MaxPool argmax imposed. Measured: input 1.9e-6, weights <= 3.9e-6,
    # HVP <= 5.2e-6; PyTorch's own float32 autograd against the same reference: 2.2e-6 / 4.1e-6 / 5.1e-6.
    torch.manual_seed(0)
    errs = compare_torch(ResNet18(width=16), (3, 64, 64), batch=8, seed=0)
    # the input + 20 convolutions (16 3x3, 3 downsample 1x1, the 7x7 stem) + fc; 17 ReLU calls
    _check(errs, tensors=22, acts=17, pools=1)


def test_mobilenet_v3_small_twin_gradients_and_hvp_match_pytorch():
    # 3x64x64, B=4: the last stage sees 2x2 maps. Hardswish/Hardsigmoid regions (and ReLU masks) of
    # onnxruntime are imposed on the float64 reference, which also gives Hardsigmoid the double
    # backward PyTorch's kernel lacks. Measured: input 2.6e-6, weights <= 3.6e-6, HVP <= 8.5e-6;
    # PyTorch's own float32 autograd against the same reference: 2.8e-6 / 8.0e-6 / 7.0e-6.
    torch.manual_seed(0)
    errs = compare_torch(MobileNetV3Small(), (3, 64, 64), batch=4, seed=0)
    # 52 convolutions (9 with an SE block: 2 each) + 2 Linear; 42 activation calls
    _check(errs, tensors=55, acts=42, pools=0)


def test_nb201_pytorch_export_gradients_and_hvp_match_pytorch(monkeypatch):
    # The NB201 twin in PyTorch (one cell per stage) exported with onnxscore's torch converter, rather
    # than built as ONNX: the exporter's own op choices (Expand, Concat, ...) go through the pass too.
    from onnxscore.spaces import nb201
    from onnxscore.spaces import nb201_torch as nt

    monkeypatch.setattr(nb201, "N_CELLS", 1)
    torch.manual_seed(0)
    arch = "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"
    errs = compare_torch(nt.build_torch(arch, "cifar10"), (3, 32, 32), batch=8, seed=0)
    n_convs = sum(1 for m in nt.build_torch(arch, "cifar10").modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
    assert errs["tensors"] == 1 + n_convs and errs["acts"] > 0, errs
    _check(errs, tensors=errs["tensors"], acts=errs["acts"], pools=0)


# ----------------------------------------------------------------------------- Keras through tf2onnx

def _keras_cnn(keras, dtype):
    keras.utils.set_random_seed(0)
    inp = keras.Input((16, 16, 3), dtype=dtype)
    z = keras.layers.Conv2D(8, 3, padding="same", use_bias=False, name="conv", dtype=dtype)(inp)
    z = keras.layers.BatchNormalization(name="bn1", dtype=dtype)(z)
    z = keras.layers.ReLU(name="relu1", dtype=dtype)(z)
    z = keras.layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2, use_bias=False, name="dw",
                                     dtype=dtype)(z)
    z = keras.layers.BatchNormalization(name="bn2", dtype=dtype)(z)
    z = keras.layers.ReLU(name="relu2", dtype=dtype)(z)
    z = keras.layers.MaxPooling2D(2, name="pool", dtype=dtype)(z)
    z = keras.layers.Conv2D(12, 3, strides=2, padding="same", name="conv2", dtype=dtype)(z)
    z = keras.layers.GlobalAveragePooling2D(name="gap", dtype=dtype)(z)
    out = keras.layers.Dense(5, name="fc", dtype=dtype)(z)
    return keras.Model(inp, out)


def _to_onnx_layout(layer, kernel):
    """A Keras kernel in the layout of the ONNX initializer tf2onnx made of it."""
    kernel = np.asarray(kernel)
    if type(layer).__name__ == "DepthwiseConv2D":  # (H, W, C, M) -> (C*M, 1, H, W), channel c*M + m
        h, w, c, m = kernel.shape
        return kernel.transpose(2, 3, 0, 1).reshape(c * m, 1, h, w)
    if kernel.ndim == 4:  # Conv2D (H, W, I, O) -> (O, I, H, W)
        return kernel.transpose(3, 2, 0, 1)
    return kernel  # Dense (in, out) is MatMul's right operand as it is


def _true_moments(tf):
    """tf.nn.moments without its stop_gradient: the variance reads the mean itself.

    tf.nn.moments computes the variance as mean((x - stop_gradient(mean))^2): the same value and first
    derivative (d var / d mean = 0 at the mean), but not the same second derivative, so a nested
    GradientTape through Keras BatchNormalization is not the Hessian of the function Keras computes
    (tf2onnx drops the stop_gradient, so the ONNX graph is that function). Measured on this net with
    tf.nn.moments as it is: HVP errors 2.8e-3 (conv) and 0.10 (dw), the layers in front of a BN, while
    a float64 PyTorch rewrite of the same net agrees with ours to 5e-6 on every HVP tensor."""
    def moments(x, axes, keepdims):
        mean = tf.reduce_mean(x, axes, keepdims=True)
        var = tf.reduce_mean(tf.math.squared_difference(x, mean), axes, keepdims=True)
        if not keepdims:
            mean, var = tf.squeeze(mean, axes), tf.squeeze(var, axes)
        return mean, var
    return moments


def test_keras_cnn_gradients_and_hvp_match_gradient_tape(monkeypatch):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    tf = pytest.importorskip("tensorflow")
    pytest.importorskip("tf2onnx")
    keras = pytest.importorskip("keras")
    from keras.src.backend.tensorflow import nn as keras_tf_nn
    from onnx import numpy_helper

    from onnxscore.converters import convert

    net = _keras_cnn(keras, "float32")
    rng = np.random.default_rng(5)
    for layer in net.layers:  # non-trivial BN affine and biases, so tf2onnx folds none of them away
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.gamma.assign((1 + 0.2 * rng.standard_normal(layer.gamma.shape)).astype(np.float32))
            layer.beta.assign((0.2 * rng.standard_normal(layer.beta.shape)).astype(np.float32))
        elif getattr(layer, "bias", None) is not None:
            layer.bias.assign((0.1 * rng.standard_normal(layer.bias.shape)).astype(np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = convert(net)
    # which Keras layer each Conv/MatMul weight initializer is (tf2onnx names nodes by layer scope)
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    layers = {layer.name: layer for layer in net.layers}
    owner = {}
    for n in model.graph.node:
        if n.op_type in ("Conv", "MatMul") and n.input[1] in inits:
            scope = n.output[0].split("/")[1]  # 'functional_1/dw_1/depthwise:0' -> 'dw_1'
            owner[n.input[1]] = layers[scope.rsplit("_", 1)[0] if scope not in layers else scope]
    assert sorted(layer.name for layer in owner.values()) == ["conv", "conv2", "dw", "fc"], owner
    for w, layer in owner.items():  # the mapping is exact: the initializer is the transposed kernel
        assert np.array_equal(inits[w], _to_onnx_layout(layer, layer.kernel.numpy())), layer.name

    names = gradient_model(model)
    assert names["input"] == "x" and set(names["weights"]) == set(owner)
    x = rng.standard_normal((6, 16, 16, 3)).astype(np.float32)  # NHWC: the converted model keeps Keras's layout
    y = np.array([0, 1, 2, 3, 4, 0], np.int64)
    ours = onnx_gradients(model, names, x, y)

    # Reference: tf.GradientTape on a float64 copy of the network, BN with batch statistics
    # (training=True; its moments without tf.nn.moments' stop_gradient, see _true_moments), HVP
    # h = H g by a nested tape. No masks are imposed: this net has 2 ReLU sites and one MaxPool, and
    # float64 vs onnxruntime float32 flips none of them here (imposing onnxruntime's masks on a
    # PyTorch rewrite changed no error). Measured: input 2.0e-7, weights <= 2.3e-6, HVP <= 5.0e-6.
    monkeypatch.setattr(keras_tf_nn, "_compute_moments", _true_moments(tf))
    ref_net = _keras_cnn(keras, "float64")
    ref_net.set_weights([v.astype(np.float64) for v in net.get_weights()])
    kernels = {w: ref_net.get_layer(layer.name).kernel for w, layer in owner.items()}
    wlist = list(kernels.values())
    xt = tf.constant(x.astype(np.float64))
    with tf.GradientTape() as outer:
        with tf.GradientTape() as inner:
            inner.watch(xt)
            logits = ref_net(xt, training=True)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
        grads = inner.gradient(loss, [xt] + wlist)
        half_sq = 0.5 * tf.add_n([tf.reduce_sum(g * g) for g in grads[1:]])
    hvp = outer.gradient(half_sq, wlist)

    assert abs(ours["loss"] - float(loss)) <= 1e-5
    errs = {"input": rel_norm_err(ours["g"]["x"], grads[0].numpy())}
    for (w, layer), g, h in zip(owner.items(), grads[1:], hvp):
        errs[f"d {layer.name}"] = rel_norm_err(ours["g"][w], _to_onnx_layout(layer, g.numpy()))
        errs[f"H g {layer.name}"] = rel_norm_err(ours["h"][w], _to_onnx_layout(layer, h.numpy()))
    assert max(errs.values()) <= TOL, errs
