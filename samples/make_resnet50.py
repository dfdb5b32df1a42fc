"""Write a ResNet-50-shaped ONNX model (224x224, BatchNorm kept) for the memory benchmark; no framework needed.

torchvision's ResNet-50 v1.5 layout (stride on the 3x3 conv, 49 ReLUs, 25,557,032 parameters) built with
onnx.helper + NumPy, initializers named like torchvision's state_dict, PyTorch-default init (conv and
linear weights U(-1/sqrt(fan_in), 1/sqrt(fan_in)), linear bias likewise, BN weight 1, bias 0, running
mean 0, var 1) from numpy default_rng(seed). BN is written as an inference export writes it
(training_mode=0); onnxscore switches it to batch statistics. The file is ~100 MB: do not commit it.

    python samples/make_resnet50.py                 # -> samples/resnet50.onnx
    python samples/make_resnet50.py --out /tmp/r50.onnx --force
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

DEFAULT_OUT = Path(__file__).resolve().parent / "resnet50.onnx"
STAGES = ((3, 64, 1), (4, 128, 2), (6, 256, 2), (3, 512, 2))  # blocks, planes, stride of first block
EXPANSION = 4


class _Net:
    """Accumulates nodes and initializers; weights drawn PyTorch-default style."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.nodes: list = []
        self.inits: list = []

    def _init(self, name: str, arr: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(arr, dtype=np.float32), name))
        return name

    def _uniform(self, bound: float, shape) -> np.ndarray:
        return self.rng.uniform(-bound, bound, size=shape).astype(np.float32)

    def conv(self, x: str, name: str, cin: int, cout: int, k: int, stride: int = 1) -> str:
        w = self._init(f"{name}.weight", self._uniform(1.0 / math.sqrt(cin * k * k), (cout, cin, k, k)))
        self.nodes.append(helper.make_node("Conv", [x, w], [name], name=name, kernel_shape=[k, k],
                                           strides=[stride, stride], pads=[k // 2] * 4))
        return name

    def bn(self, x: str, name: str, c: int) -> str:
        ins = [x, self._init(f"{name}.weight", np.ones(c)), self._init(f"{name}.bias", np.zeros(c)),
               self._init(f"{name}.running_mean", np.zeros(c)), self._init(f"{name}.running_var", np.ones(c))]
        self.nodes.append(helper.make_node("BatchNormalization", ins, [name], name=name,
                                           epsilon=1e-5, momentum=0.9))
        return name

    def relu(self, x: str, name: str) -> str:
        self.nodes.append(helper.make_node("Relu", [x], [name], name=name))
        return name

    def bottleneck(self, x: str, name: str, cin: int, planes: int, stride: int) -> tuple[str, int]:
        cout = planes * EXPANSION
        h = self.relu(self.bn(self.conv(x, f"{name}.conv1", cin, planes, 1), f"{name}.bn1", planes), f"{name}.relu1")
        h = self.relu(self.bn(self.conv(h, f"{name}.conv2", planes, planes, 3, stride), f"{name}.bn2", planes),
                      f"{name}.relu2")
        h = self.bn(self.conv(h, f"{name}.conv3", planes, cout, 1), f"{name}.bn3", cout)
        short = x
        if stride != 1 or cin != cout:
            short = self.bn(self.conv(x, f"{name}.downsample.0", cin, cout, 1, stride), f"{name}.downsample.1", cout)
        self.nodes.append(helper.make_node("Add", [h, short], [f"{name}.add"], name=f"{name}.add"))
        return self.relu(f"{name}.add", f"{name}.relu3"), cout


def build(size: int = 224, width: int = 64, num_classes: int = 1000, seed: int = 0) -> onnx.ModelProto:
    """ResNet-50-shaped model: input 'input' [batch, 3, size, size], output 'logits' [batch, classes].
    `width` is the stem width (64 = ResNet-50; smaller only for quick tests)."""
    n = _Net(seed)
    h = n.relu(n.bn(n.conv("input", "conv1", 3, width, 7, 2), "bn1", width), "relu")
    n.nodes.append(helper.make_node("MaxPool", [h], ["maxpool"], name="maxpool", kernel_shape=[3, 3],
                                    strides=[2, 2], pads=[1, 1, 1, 1]))
    h, c = "maxpool", width
    for s, (blocks, planes, stride) in enumerate(STAGES, start=1):
        p = planes * width // 64
        for b in range(blocks):
            h, c = n.bottleneck(h, f"layer{s}.{b}", c, p, stride if b == 0 else 1)
    n.nodes.append(helper.make_node("GlobalAveragePool", [h], ["avgpool"], name="avgpool"))
    n.nodes.append(helper.make_node("Flatten", ["avgpool"], ["flatten"], name="flatten", axis=1))
    bound = 1.0 / math.sqrt(c)
    w = n._init("fc.weight", n._uniform(bound, (num_classes, c)))
    bias = n._init("fc.bias", n._uniform(bound, (num_classes,)))
    n.nodes.append(helper.make_node("Gemm", ["flatten", w, bias], ["logits"], name="fc", transB=1))
    graph = helper.make_graph(
        n.nodes, "resnet50",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, size, size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", num_classes])],
        initializer=n.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="onnxscore-samples")
    model.ir_version = 10
    return model


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(DEFAULT_OUT), help="where to write (default samples/resnet50.onnx)")
    ap.add_argument("--force", action="store_true", help="overwrite an existing file")
    ap.add_argument("--seed", type=int, default=0, help="numpy seed of the weights")
    ap.add_argument("--size", type=int, default=224, help="input height and width")
    ap.add_argument("--width", type=int, default=64, help="stem width; 64 is ResNet-50 (smaller for tests)")
    a = ap.parse_args(argv)
    out = Path(a.out)
    if out.exists() and not a.force:
        print(f"make_resnet50: error: {out} exists; pass --force to overwrite it", file=sys.stderr)
        return 2
    model = build(a.size, a.width, seed=a.seed)
    onnx.checker.check_model(model)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out))
    params = sum(int(np.prod(t.dims)) for t in model.graph.initializer if not t.name.endswith(("running_mean", "running_var")))
    relus = sum(nd.op_type == "Relu" for nd in model.graph.node)
    print(f"wrote {out}: {out.stat().st_size / 2**20:.1f} MiB, {params:,} parameters, {relus} Relu, "
          f"input [batch, 3, {a.size}, {a.size}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
