"""NAS-Bench-201 in PyTorch, module-for-module as xautodl's TinyNetwork (for reference checks and export).

Imports torch at module top: import this module only when torch is wanted. State_dict keys equal the
initializer names of onnxscore.spaces.nb201.build_model, so load_weights_from_onnx copies weights 1:1.
"""

from __future__ import annotations

import io
from typing import Optional, Sequence, Union

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import nn

from onnxscore.errors import InputError
from onnxscore.spaces import nb201


class ReLUConvBN(nn.Module):
    """xautodl ReLUConvBN: ReLU -> Conv (no bias) -> BN, each its own module."""

    def __init__(self, cin: int, cout: int, k: int, stride: int, pad: int):
        super().__init__()
        self.op = nn.Sequential(nn.ReLU(inplace=False), nn.Conv2d(cin, cout, k, stride, pad, bias=False),
                                nn.BatchNorm2d(cout))

    def forward(self, x):
        return self.op(x)


class Pooling(nn.Module):
    """avg_pool_3x3: AvgPool2d(3, 1, 1, count_include_pad=False)."""

    def __init__(self):
        super().__init__()
        self.op = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)

    def forward(self, x):
        return self.op(x)


class Identity(nn.Module):
    """skip_connect."""

    def forward(self, x):
        return x


class Zero(nn.Module):
    """none: x * 0 (xautodl's Zero op at stride 1)."""

    def forward(self, x):
        return x.mul(0.0)


def _make_op(op: str, c: int) -> nn.Module:
    if op == "none":
        return Zero()
    if op == "skip_connect":
        return Identity()
    if op == "nor_conv_1x1":
        return ReLUConvBN(c, c, 1, 1, 0)
    if op == "nor_conv_3x3":
        return ReLUConvBN(c, c, 3, 1, 1)
    if op == "avg_pool_3x3":
        return Pooling()
    raise InputError(f"unknown NAS-Bench-201 op {op!r}")


class InferCell(nn.Module):
    """xautodl InferCell: node_j = sum_{i<j} layer_ij(node_i); returns node 3."""

    def __init__(self, ops: Sequence[str], c: int):
        super().__init__()
        self.layers = nn.ModuleList(_make_op(op, c) for op in ops)
        self.edges = nb201.EDGES

    def forward(self, x):
        nodes = [x]
        for j in (1, 2, 3):
            nodes.append(sum(self.layers[e](nodes[i]) for e, (i, t) in enumerate(self.edges) if t == j))
        return nodes[-1]


class ResNetBasicblock(nn.Module):
    """xautodl ResNetBasicblock with stride 2 (the reduction block)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv_a = ReLUConvBN(cin, cout, 3, 2, 1)
        self.conv_b = ReLUConvBN(cout, cout, 3, 1, 1)
        self.downsample = nn.Sequential(nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
                                        nn.Conv2d(cin, cout, kernel_size=1, stride=1, padding=0, bias=False))

    def forward(self, x):
        return self.downsample(x) + self.conv_b(self.conv_a(x))


class TinyNetwork(nn.Module):
    """xautodl TinyNetwork (C=16, N=5); forward returns the logits only."""

    def __init__(self, arch: Union[str, Sequence[str]], num_classes: int = 10):
        super().__init__()
        ops = nb201.to_ops(arch)
        self.arch = nb201.format_arch(ops)
        c = nb201.C_INIT
        self.stem = nn.Sequential(nn.Conv2d(3, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))
        cells = []
        for s in range(3):
            cs = c << s
            if s > 0:
                cells.append(ResNetBasicblock(cs // 2, cs))
            cells.extend(InferCell(ops, cs) for _ in range(nb201.N_CELLS))
        self.cells = nn.ModuleList(cells)
        self.lastact = nn.Sequential(nn.BatchNorm2d(4 * c), nn.ReLU(inplace=True))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(4 * c, num_classes)

    def forward(self, x):
        h = self.stem(x)
        for cell in self.cells:
            h = cell(h)
        h = self.global_pooling(self.lastact(h))
        return self.classifier(h.view(h.size(0), -1))


def build_torch(arch: Union[str, Sequence[str]], dataset: str = "cifar10", seed: Optional[int] = None,
                num_classes: Optional[int] = None) -> TinyNetwork:
    """TinyNetwork for `dataset`; with a seed, PyTorch default init under torch.manual_seed(seed)."""
    k = int(num_classes or nb201.DATASETS[nb201.canonical_dataset(dataset)][1])
    if seed is not None:
        torch.manual_seed(seed)
    return TinyNetwork(arch, k)


def load_weights_from_onnx(module: nn.Module, model: onnx.ModelProto) -> nn.Module:
    """Copy initializers of `model` into `module` by state_dict key; every parameter/buffer must match."""
    inits = {t.name: t for t in model.graph.initializer}
    state = module.state_dict()
    new = {}
    for key, val in state.items():
        if key.endswith("num_batches_tracked"):
            new[key] = val
            continue
        if key not in inits:
            raise InputError(f"ONNX model has no initializer {key!r}; was it built for the same architecture?")
        arr = numpy_helper.to_array(inits[key])
        if tuple(arr.shape) != tuple(val.shape):
            raise InputError(f"initializer {key!r} has shape {arr.shape}, module expects {tuple(val.shape)}")
        new[key] = torch.from_numpy(np.array(arr, dtype=np.float32))
    module.load_state_dict(new)
    return module


def export_onnx(module: nn.Module, dataset: str = "cifar10", batch: int = 2) -> onnx.ModelProto:
    """Export with torch.onnx dynamo=True, optimize=False (keeps every ReLU and BN), dynamic batch, IR 10.

    Exported in eval mode, so BatchNormalization has training_mode=0 (onnxscore's BN pass flips it).
    """
    side = nb201.DATASETS[nb201.canonical_dataset(dataset)][0]
    was_training = module.training
    module.eval()
    try:
        x = torch.zeros(batch, 3, side, side)
        prog = torch.onnx.export(module, (x,), dynamo=True, optimize=False, input_names=["input"],
                                 output_names=["logits"],
                                 dynamic_shapes={"x": {0: torch.export.Dim("batch")}}, verbose=False)
        buf = io.BytesIO()
        prog.save(buf)  # embeds the weights (external_data only applies to file paths)
    finally:
        module.train(was_training)
    model = onnx.load_from_string(buf.getvalue())
    model.ir_version = 10
    return model


__all__ = ["TinyNetwork", "InferCell", "ResNetBasicblock", "ReLUConvBN", "build_torch",
           "load_weights_from_onnx", "export_onnx"]
