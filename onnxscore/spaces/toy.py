"""Two small search spaces written against the public SearchSpace interface: a toy chain of convolutions
with a known optimum (for tests of the search algorithms) and the README's MobileNet-like macro space
(width and kernel choices per block). Both build ONNX with onnx.helper, no framework needed.

Importing this module registers them as "toy" and "mobilenet-like".
"""

from __future__ import annotations

import math
from typing import Iterator, List, Sequence, Tuple

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from onnxscore.errors import InputError
from onnxscore.spaces import register_space
from onnxscore.spaces.base import SearchSpace


class _Graph:
    """Nodes and initializers of a feed-forward CNN; weights drawn PyTorch-default style from one seed."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.nodes: List[onnx.NodeProto] = []
        self.inits: List[onnx.TensorProto] = []

    def init(self, name: str, arr) -> str:
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(arr, dtype=np.float32), name))
        return name

    def node(self, op: str, inputs: List[str], name: str, **attrs) -> str:
        self.nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    def conv(self, x: str, name: str, cin: int, cout: int, k: int, stride: int = 1, group: int = 1) -> str:
        fan_in = cin // group * k * k
        w = self.rng.uniform(-1, 1, (cout, cin // group, k, k)) / math.sqrt(fan_in)
        return self.node("Conv", [x, self.init(f"{name}.weight", w)], name, kernel_shape=[k, k],
                         strides=[stride, stride], pads=[k // 2] * 4, group=group)

    def bn(self, x: str, name: str, c: int) -> str:
        """Inference-form BatchNormalization (onnxscore's default --bn batch scores it with batch statistics)."""
        ins = [x, self.init(f"{name}.weight", np.ones(c)), self.init(f"{name}.bias", np.zeros(c)),
               self.init(f"{name}.running_mean", np.zeros(c)), self.init(f"{name}.running_var", np.ones(c))]
        return self.node("BatchNormalization", ins, name, epsilon=1e-5)

    def head(self, x: str, cin: int, classes: int) -> str:
        h = self.node("GlobalAveragePool", [x], "pool")
        h = self.node("Flatten", [h], "flatten", axis=1)
        bound = 1 / math.sqrt(cin)
        w = self.init("classifier.weight", self.rng.uniform(-bound, bound, (classes, cin)))
        b = self.init("classifier.bias", self.rng.uniform(-bound, bound, (classes,)))
        self.nodes.append(helper.make_node("Gemm", [h, w, b], ["logits"], name="classifier", transB=1))
        return "logits"

    def model(self, name: str, side: int, classes: int, props: dict) -> onnx.ModelProto:
        graph = helper.make_graph(
            self.nodes, name,
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, side, side])],
            [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", classes])],
            initializer=self.inits)
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="onnxscore")
        m.ir_version = 10
        helper.set_model_props(m, {k: str(v) for k, v in props.items()})
        return m


# ----------------------------------------------------------------------------- toy space


@register_space("toy")
class ToySpace(SearchSpace):
    """A chain of `depth` Conv3x3-BN-ReLU layers whose widths are chosen from `widths`; 8x8 inputs.

    Encodings are strings of choice indices, e.g. "3-1-0-2-3-1". `objective` is a known function with a
    unique optimum (`target`), for testing search algorithms without any proxy noise.
    """

    name = "toy"

    def __init__(self, depth: int = 6, widths: Sequence[int] = (2, 4, 6, 8), side: int = 8, classes: int = 4,
                 target: str | None = None):
        if depth < 1 or len(widths) < 2:
            raise InputError("toy space needs depth >= 1 and at least two widths")
        self.depth, self.widths, self.side, self.classes = int(depth), tuple(int(w) for w in widths), side, classes
        k = len(self.widths)
        self.target = self.from_str(target) if target else "-".join(str((3 * i + 1) % k) for i in range(depth))

    def _choices(self, enc: str) -> Tuple[int, ...]:
        return tuple(int(c) for c in self.from_str(enc).split("-"))

    def sample(self, rng: np.random.Generator) -> str:
        return "-".join(str(int(c)) for c in rng.integers(0, len(self.widths), self.depth))

    def mutate(self, encoding: str, rng: np.random.Generator) -> str:
        ch = list(self._choices(encoding))
        i = int(rng.integers(self.depth))
        ch[i] = (ch[i] + 1 + int(rng.integers(len(self.widths) - 1))) % len(self.widths)
        return "-".join(map(str, ch))

    def build(self, encoding: str, seed: int = 0) -> onnx.ModelProto:
        g = _Graph(seed)
        h, cin = "input", 3
        for i, c in enumerate(self._choices(encoding)):
            w = self.widths[c]
            h = g.conv(h, f"layers.{i}.conv", cin, w, 3)
            h = g.bn(h, f"layers.{i}.bn", w)
            h = g.node("Relu", [h], f"layers.{i}.relu")
            cin = w
        g.head(h, cin, self.classes)
        return g.model("toy", self.side, self.classes, {"toy.arch": encoding, "toy.seed": seed})

    def params(self, encoding: str) -> int:
        total, cin = 0, 3
        for c in self._choices(encoding):
            w = self.widths[c]
            total += 9 * cin * w + 2 * w
            cin = w
        return total + cin * self.classes + self.classes

    def macs(self, encoding: str) -> int:
        total, cin = 0, 3
        for c in self._choices(encoding):
            w = self.widths[c]
            total += 9 * cin * w * self.side * self.side
            cin = w
        return total + cin * self.classes + self.classes

    def features(self, encoding: str) -> np.ndarray:
        """One-hot width choice per layer, for hybrid search's predictors."""
        out = np.zeros((self.depth, len(self.widths)))
        out[np.arange(self.depth), list(self._choices(encoding))] = 1.0
        return out.ravel()

    def to_str(self, encoding: str) -> str:
        return self.from_str(encoding)

    def from_str(self, s: str) -> str:
        parts = str(s).strip().split("-")
        if len(parts) != self.depth or not all(p.isdigit() and int(p) < len(self.widths) for p in parts):
            raise InputError(f"bad toy encoding {s!r}: expected {self.depth} choices in 0..{len(self.widths) - 1} "
                             "joined by '-'")
        return "-".join(str(int(p)) for p in parts)

    def all(self) -> Iterator[str]:
        import itertools

        for ch in itertools.product(range(len(self.widths)), repeat=self.depth):
            yield "-".join(map(str, ch))

    def objective(self, encoding: str) -> float:
        """Known test function: number of positions equal to `target` (maximum `depth`, only at `target`)."""
        return float(sum(a == b for a, b in zip(self._choices(encoding), self._choices(self.target))))


# ----------------------------------------------------------------------------- MobileNet-like space


def _round_channels(c: float, divisor: int = 4) -> int:
    return max(divisor, int(round(c / divisor)) * divisor)


@register_space("mobilenet-like")
class MobileNetLikeSpace(SearchSpace):
    """Stem + one inverted-residual block per stage (expand 1x1, depthwise kxk, project 1x1; ReLU6);
    each block chooses a width multiplier of its stage's channels and a depthwise kernel size.

    Encoding: "w1.0k3-w0.5k7-..." (one "w<width>k<kernel>" per block).
    """

    name = "mobilenet-like"
    WIDTHS = (0.5, 0.75, 1.0)
    KERNELS = (3, 5, 7)
    STAGES = ((16, 1), (24, 2), (32, 2), (48, 1), (64, 2))  # (channels at width 1.0, stride)

    def __init__(self, resolution: int = 32, num_classes: int = 10, expand: int = 3, stem: int = 16):
        self.resolution, self.num_classes, self.expand, self.stem = int(resolution), int(num_classes), int(expand), stem

    # encoding: tuple of (width, kernel) per block, kept as its canonical string
    def _blocks(self, enc: str) -> List[Tuple[float, int]]:
        out = []
        for part in self.from_str(enc).split("-"):
            w, k = part[1:].split("k")
            out.append((float(w), int(k)))
        return out

    @staticmethod
    def _fmt(blocks: Sequence[Tuple[float, int]]) -> str:
        return "-".join(f"w{w:g}k{k}" for w, k in blocks)

    def _layers(self, enc: str):
        """(cin, cexp, cout, k, stride, side_in, side_out) per block."""
        cin, side = self.stem, self.resolution
        for (w, k), (base, stride) in zip(self._blocks(enc), self.STAGES):
            cout = _round_channels(base * w)
            cexp = cin * self.expand
            out_side = -(-side // stride)
            yield cin, cexp, cout, k, stride, side, out_side
            cin, side = cout, out_side

    def sample(self, rng: np.random.Generator) -> str:
        return self._fmt([(self.WIDTHS[int(rng.integers(len(self.WIDTHS)))],
                           self.KERNELS[int(rng.integers(len(self.KERNELS)))]) for _ in self.STAGES])

    def mutate(self, encoding: str, rng: np.random.Generator) -> str:
        blocks = self._blocks(encoding)
        i = int(rng.integers(len(blocks)))
        w, k = blocks[i]
        if rng.integers(2):
            w = [x for x in self.WIDTHS if x != w][int(rng.integers(len(self.WIDTHS) - 1))]
        else:
            k = [x for x in self.KERNELS if x != k][int(rng.integers(len(self.KERNELS) - 1))]
        blocks[i] = (w, k)
        return self._fmt(blocks)

    def build(self, encoding: str, seed: int = 0) -> onnx.ModelProto:
        g = _Graph(seed)
        zero = g.init("relu6.min", np.float32(0.0))
        six = g.init("relu6.max", np.float32(6.0))

        def relu6(x: str, name: str) -> str:
            return g.node("Clip", [x, zero, six], name)

        h = relu6(g.bn(g.conv("input", "stem.conv", 3, self.stem, 3), "stem.bn", self.stem), "stem.act")
        cout = self.stem
        for i, (cin, cexp, cout, k, stride, _, _) in enumerate(self._layers(encoding)):
            p = f"blocks.{i}"
            x = h
            h = relu6(g.bn(g.conv(h, f"{p}.expand", cin, cexp, 1), f"{p}.expand_bn", cexp), f"{p}.expand_act")
            h = relu6(g.bn(g.conv(h, f"{p}.dw", cexp, cexp, k, stride, group=cexp), f"{p}.dw_bn", cexp), f"{p}.dw_act")
            h = g.bn(g.conv(h, f"{p}.project", cexp, cout, 1), f"{p}.project_bn", cout)
            if stride == 1 and cin == cout:
                h = g.node("Add", [x, h], f"{p}.residual")
        g.head(h, cout, self.num_classes)
        return g.model("mobilenet_like", self.resolution, self.num_classes,
                       {"mobilenet_like.arch": self.to_str(encoding), "mobilenet_like.seed": seed})

    def params(self, encoding: str) -> int:
        total = 27 * self.stem + 2 * self.stem
        cout = self.stem
        for cin, cexp, cout, k, _, _, _ in self._layers(encoding):
            total += cin * cexp + 2 * cexp + k * k * cexp + 2 * cexp + cexp * cout + 2 * cout
        return total + cout * self.num_classes + self.num_classes

    def macs(self, encoding: str) -> int:
        total = 27 * self.stem * self.resolution ** 2
        cout = self.stem
        for cin, cexp, cout, k, _, s_in, s_out in self._layers(encoding):
            total += cin * cexp * s_in ** 2 + k * k * cexp * s_out ** 2 + cexp * cout * s_out ** 2
        return total + cout * self.num_classes + self.num_classes

    def to_str(self, encoding: str) -> str:
        return self.from_str(encoding)

    def from_str(self, s: str) -> str:
        parts = str(s).strip().split("-")
        blocks = []
        try:
            for part in parts:
                if not part.startswith("w") or "k" not in part:
                    raise ValueError(part)
                w, k = part[1:].split("k")
                blocks.append((float(w), int(k)))
        except ValueError:
            blocks = []
        if (len(blocks) != len(self.STAGES) or any(w not in self.WIDTHS or k not in self.KERNELS
                                                     for w, k in blocks)):
            raise InputError(f"bad mobilenet-like encoding {s!r}: expected {len(self.STAGES)} blocks like "
                             f"'w0.75k5' (widths {self.WIDTHS}, kernels {self.KERNELS}) joined by '-'")
        return self._fmt(blocks)

    def all(self) -> Iterator[str]:
        import itertools

        choices = list(itertools.product(self.WIDTHS, self.KERNELS))
        for blocks in itertools.product(choices, repeat=len(self.STAGES)):
            yield self._fmt(blocks)


__all__ = ["ToySpace", "MobileNetLikeSpace"]
