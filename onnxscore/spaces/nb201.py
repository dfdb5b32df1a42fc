"""NAS-Bench-201 (NATS-Bench TSS): arch strings, closed-form counts and a torch-free ONNX builder.

Layout follows xautodl `models/cell_infers/tiny_network.py` (`infer.tiny`, C=16, N=5; the shared
NB201.md describes it). Initializer names are the PyTorch state_dict keys of xautodl's TinyNetwork, so
weights map 1:1 onto onnxscore.spaces.nb201_torch. Every operation gets its own Relu node (no sharing),
BatchNormalization keeps training_mode=1 (batch statistics, the proxies' protocol) unless asked otherwise.
"""

from __future__ import annotations

import csv
import itertools
import math
import os
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from onnxscore.errors import InputError
from onnxscore.graph.features import FEATURES_KEY
from onnxscore.spaces import register_space
from onnxscore.spaces.base import SearchSpace

# xautodl's op order; index = position in this tuple.
OPS: Tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
# Edges (source node, target node) in arch-string order.
EDGES: Tuple[Tuple[int, int], ...] = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
# NASLib op ids and its edge order (NASLib node k = NB201 node k-1).
NASLIB_OPS: Tuple[str, ...] = ("skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3")
NASLIB_EDGES: Tuple[Tuple[int, int], ...] = ((0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3))

C_INIT = 16  # channels of stage 1
N_CELLS = 5  # cells per stage
# dataset -> (input side, classes)
DATASETS: Dict[str, Tuple[int, int]] = {
    "cifar10": (32, 10),
    "cifar100": (32, 100),
    "ImageNet16-120": (16, 120),
}
_DATASET_ALIASES = {
    "cifar10": "cifar10", "cifar-10": "cifar10", "c10": "cifar10",
    "cifar100": "cifar100", "cifar-100": "cifar100", "c100": "cifar100",
    "imagenet16-120": "ImageNet16-120", "imagenet16": "ImageNet16-120", "in16": "ImageNet16-120",
    "imagenet16_120": "ImageNet16-120",
}
# dataset -> column of the accuracy table holding its test accuracy
ACCURACY_COLUMNS = {"cifar10": "cifar10_acc", "cifar100": "cifar100_acc", "ImageNet16-120": "imagenet16_acc"}
NUM_ARCHS = len(OPS) ** len(EDGES)  # 15,625

Arch = Union[str, Sequence[str]]


# ----------------------------------------------------------------------------- encodings

def canonical_dataset(name: str) -> str:
    """Canonical dataset name ("cifar10", "cifar100", "ImageNet16-120") from a case-insensitive alias."""
    key = _DATASET_ALIASES.get(str(name).lower())
    if key is None:
        raise InputError(f"unknown NAS-Bench-201 dataset {name!r}; use cifar10, cifar100 or ImageNet16-120")
    return key


def parse_arch(s: str) -> Tuple[str, ...]:
    """Arch string '|op~0|+|op~0|op~1|+|op~0|op~1|op~2|' -> 6 op names in EDGES order."""
    if not isinstance(s, str):
        raise InputError(f"NAS-Bench-201 arch must be a string, got {type(s).__name__}")
    groups = s.strip().split("+")
    if len(groups) != 3:
        raise InputError(f"bad NAS-Bench-201 arch string {s!r}: expected 3 '+'-separated node groups")
    ops: List[str] = []
    for node, group in enumerate(groups, start=1):
        g = group.strip()
        if not (g.startswith("|") and g.endswith("|")):
            raise InputError(f"bad NAS-Bench-201 arch string {s!r}: group {g!r} must start and end with '|'")
        entries = g[1:-1].split("|")
        if len(entries) != node:
            raise InputError(f"bad NAS-Bench-201 arch string {s!r}: node {node} needs {node} incoming edges")
        for src, entry in enumerate(entries):
            op, sep, j = entry.partition("~")
            if sep != "~" or j != str(src):
                raise InputError(f"bad NAS-Bench-201 arch string {s!r}: expected '<op>~{src}', got {entry!r}")
            if op not in OPS:
                raise InputError(f"bad NAS-Bench-201 arch string {s!r}: unknown op {op!r}; ops are {', '.join(OPS)}")
            ops.append(op)
    # string order is node1:(0) node2:(0,1) node3:(0,1,2) == EDGES order
    return tuple(ops)


def format_arch(ops: Sequence[str]) -> str:
    """6 op names in EDGES order -> canonical arch string."""
    ops = _check_ops(ops)
    return "|{}~0|+|{}~0|{}~1|+|{}~0|{}~1|{}~2|".format(*ops)


def _check_ops(ops: Sequence[str]) -> Tuple[str, ...]:
    ops = tuple(ops)
    if len(ops) != len(EDGES) or any(op not in OPS for op in ops):
        raise InputError(f"NAS-Bench-201 op list must be 6 names from {', '.join(OPS)}; got {ops!r}")
    return ops


def to_ops(arch: Arch) -> Tuple[str, ...]:
    """Accept an arch string or a sequence of 6 op names; return the op tuple (EDGES order)."""
    return parse_arch(arch) if isinstance(arch, str) else _check_ops(arch)


def from_naslib(indices: Sequence[int]) -> str:
    """NASLib 6-tuple of op ids (edges (1,2),(1,3),(1,4),(2,3),(2,4),(3,4)) -> arch string."""
    idx = tuple(int(i) for i in indices)
    if len(idx) != 6 or any(not 0 <= i < len(NASLIB_OPS) for i in idx):
        raise InputError(f"NASLib NAS-Bench-201 encoding must be 6 op ids in 0..4; got {tuple(indices)!r}")
    by_edge = {edge: NASLIB_OPS[i] for edge, i in zip(NASLIB_EDGES, idx)}
    return format_arch([by_edge[e] for e in EDGES])


def to_naslib(arch: Arch) -> Tuple[int, ...]:
    """Arch string (or op tuple) -> NASLib 6-tuple of op ids."""
    by_edge = dict(zip(EDGES, to_ops(arch)))
    return tuple(NASLIB_OPS.index(by_edge[e]) for e in NASLIB_EDGES)


def all_archs() -> Iterator[str]:
    """All 15,625 arch strings (itertools order over OPS, not benchmark index order)."""
    for ops in itertools.product(OPS, repeat=len(EDGES)):
        yield format_arch(ops)


def is_dead(arch: Arch) -> bool:
    """True when no chain of non-`none` edges links node 0 to node 3 (output is a constant)."""
    ops = to_ops(arch)
    reach = {0}
    for (i, j), op in zip(EDGES, ops):  # EDGES is sorted by target, so one pass suffices
        if op != "none" and i in reach:
            reach.add(j)
    return 3 not in reach


# ----------------------------------------------------------------------------- closed-form counts

def _conv_counts(ops: Sequence[str]) -> Tuple[int, int]:
    return ops.count("nor_conv_1x1"), ops.count("nor_conv_3x3")


def params(arch: Arch, num_classes: int = 10) -> int:
    """Trainable parameters (conv, BN scale/shift, linear; no BN running stats), docs/NB201.md section 6."""
    n1, n3 = _conv_counts(to_ops(arch))
    c = C_INIT
    total = 27 * c + 2 * c  # stem conv + BN
    for s in range(3):
        cs = c << s
        total += N_CELLS * (n3 * (9 * cs * cs + 2 * cs) + n1 * (cs * cs + 2 * cs))
    for cin in (c, 2 * c):  # reduction blocks
        cout = 2 * cin
        total += 9 * cin * cout + 2 * cout + 9 * cout * cout + 2 * cout + cin * cout
    c_last = 4 * c
    total += 2 * c_last + c_last * num_classes + num_classes
    return total


def macs(arch: Arch, dataset: str = "cifar10") -> int:
    """Multiply-accumulates per sample, conv + linear (bias counted), xautodl convention (docs/NB201.md section 6)."""
    side, num_classes = DATASETS[canonical_dataset(dataset)]
    n1, n3 = _conv_counts(to_ops(arch))
    c = C_INIT
    total = 9 * 3 * c * side * side  # stem
    for s in range(3):
        cs, hs = c << s, side >> s
        total += N_CELLS * (9 * n3 + n1) * cs * cs * hs * hs
        if s < 2:  # reduction block cs -> 2cs, output side hs/2
            cout, ho = 2 * cs, hs >> 1
            total += (9 * cs * cout + 9 * cout * cout + cs * cout) * ho * ho
    c_last = 4 * c
    total += c_last * num_classes + num_classes
    return total


# ----------------------------------------------------------------------------- ONNX builder

class _Builder:
    """Accumulates nodes and initializers; weights drawn PyTorch-default style from one numpy Generator."""

    def __init__(self, seed: int, bn_training: bool):
        self.rng = np.random.default_rng(seed)
        self.bn_training = bn_training
        self.nodes: List[onnx.NodeProto] = []
        self.inits: List[onnx.TensorProto] = []

    def _init(self, name: str, arr: np.ndarray, dtype=np.float32) -> str:
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(arr, dtype=dtype), name))
        return name

    def _uniform(self, bound: float, shape) -> np.ndarray:
        return self.rng.uniform(-bound, bound, size=shape).astype(np.float32)

    def node(self, op: str, inputs: List[str], name: str, outputs: Optional[List[str]] = None, **attrs) -> str:
        outs = outputs or [name]
        self.nodes.append(helper.make_node(op, inputs, outs, name=name, **attrs))
        return outs[0]

    def conv(self, x: str, path: str, cin: int, cout: int, k: int, stride: int, pad: int) -> str:
        # kaiming_uniform_(a=sqrt(5)) == U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        w = self._init(f"{path}.weight", self._uniform(1.0 / math.sqrt(cin * k * k), (cout, cin, k, k)))
        return self.node("Conv", [x, w], path, kernel_shape=[k, k], strides=[stride, stride],
                         pads=[pad] * 4, dilations=[1, 1], group=1)

    def bn(self, x: str, path: str, c: int) -> str:
        ins = [x,
               self._init(f"{path}.weight", np.ones(c)), self._init(f"{path}.bias", np.zeros(c)),
               self._init(f"{path}.running_mean", np.zeros(c)), self._init(f"{path}.running_var", np.ones(c))]
        if self.bn_training:  # opset >= 14 needs 3 outputs in training mode
            outs = [path, f"{path}.running_mean_out", f"{path}.running_var_out"]
            return self.node("BatchNormalization", ins, path, outs, epsilon=1e-5, momentum=0.9, training_mode=1)
        return self.node("BatchNormalization", ins, path, epsilon=1e-5, momentum=0.9, training_mode=0)

    def relu(self, x: str, path: str) -> str:
        return self.node("Relu", [x], path)

    def relu_conv_bn(self, x: str, path: str, cin: int, cout: int, k: int, stride: int, pad: int) -> str:
        """xautodl ReLUConvBN: Sequential(ReLU, Conv(bias=False), BN) -> names path.0/.1/.2."""
        h = self.relu(x, f"{path}.0")
        h = self.conv(h, f"{path}.1", cin, cout, k, stride, pad)
        return self.bn(h, f"{path}.2", cout)

    def zeros_like(self, x: str, path: str) -> str:
        shape = self.node("Shape", [x], f"{path}.shape")
        return self.node("ConstantOfShape", [shape], path,
                         value=helper.make_tensor("value", TensorProto.FLOAT, [1], [0.0]))

    def add_all(self, terms: List[str], path: str) -> str:
        acc = terms[0]
        for k, t in enumerate(terms[1:]):
            acc = self.node("Add", [acc, t], f"{path}.add{k}")
        return acc

    def cell(self, x: str, path: str, ops: Sequence[str], c: int) -> str:
        """InferCell: node_j = sum_{i<j} op_ij(node_i); `none` edges and zero nodes contribute nothing."""
        nodes: List[Optional[str]] = [x]  # None marks an all-zero node
        zeros: List[str] = []

        def real(t: Optional[str]) -> str:
            if t is not None:
                return t
            if not zeros:
                zeros.append(self.zeros_like(x, f"{path}.zeros"))
            return zeros[0]

        for j in (1, 2, 3):
            terms = []
            for e, ((i, tgt), op) in enumerate(zip(EDGES, ops)):
                if tgt != j or op == "none":
                    continue
                src, lp = nodes[i], f"{path}.layers.{e}"
                if op == "skip_connect":
                    if src is not None:
                        terms.append(src)
                elif op == "avg_pool_3x3":
                    if src is not None:  # pool of zeros is zeros
                        terms.append(self.node("AveragePool", [src], f"{lp}.op", kernel_shape=[3, 3],
                                               strides=[1, 1], pads=[1, 1, 1, 1], count_include_pad=0))
                else:  # conv ops keep their ReLU site even on an all-zero input (as xautodl does)
                    k = 3 if op == "nor_conv_3x3" else 1
                    terms.append(self.relu_conv_bn(real(src), f"{lp}.op", c, c, k, 1, k // 2))
            nodes.append(self.add_all(terms, f"{path}.node{j}") if terms else None)
        return real(nodes[3])

    def reduction(self, x: str, path: str, cin: int, cout: int) -> str:
        """ResNetBasicblock stride 2: conv_a, conv_b (ReLUConvBN 3x3) + AvgPool2-Conv1x1 shortcut."""
        h = self.relu_conv_bn(x, f"{path}.conv_a.op", cin, cout, 3, 2, 1)
        h = self.relu_conv_bn(h, f"{path}.conv_b.op", cout, cout, 3, 1, 1)
        r = self.node("AveragePool", [x], f"{path}.downsample.0", kernel_shape=[2, 2], strides=[2, 2],
                      pads=[0, 0, 0, 0], count_include_pad=0)
        r = self.conv(r, f"{path}.downsample.1", cin, cout, 1, 1, 0)
        return self.node("Add", [r, h], f"{path}.add")


def build_model(arch: Arch, dataset: str = "cifar10", seed: int = 0, num_classes: Optional[int] = None,
                bn_training: bool = True) -> onnx.ModelProto:
    """Build the untrained NB201 network as ONNX (input 'input' [batch,3,H,W], output 'logits')."""
    ops = to_ops(arch)
    ds = canonical_dataset(dataset)
    side, k_default = DATASETS[ds]
    k = int(num_classes or k_default)
    b = _Builder(seed, bn_training)
    c = C_INIT
    h = b.conv("input", "stem.0", 3, c, 3, 1, 1)
    h = b.bn(h, "stem.1", c)
    taps = [h]  # AZ-NAS's feature maps: the stem's output, then every cell's (extract_cell_features)
    idx = 0
    for s in range(3):
        cs = c << s
        if s > 0:
            h = b.reduction(h, f"cells.{idx}", cs // 2, cs)
            taps.append(h)
            idx += 1
        for _ in range(N_CELLS):
            h = b.cell(h, f"cells.{idx}", ops, cs)
            taps.append(h)
            idx += 1
    h = b.bn(h, "lastact.0", 4 * c)
    h = b.relu(h, "lastact.1")
    h = b.node("GlobalAveragePool", [h], "global_pooling")
    h = b.node("Flatten", [h], "flatten", axis=1)
    bound = 1.0 / math.sqrt(4 * c)
    w = b._init("classifier.weight", b._uniform(bound, (k, 4 * c)))
    bias = b._init("classifier.bias", b._uniform(bound, (k,)))
    b.node("Gemm", [h, w, bias], "classifier", ["logits"], transB=1)

    graph = helper.make_graph(
        b.nodes, "nb201",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, side, side])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", k])],
        initializer=b.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="onnxscore")
    model.ir_version = 10
    helper.set_model_props(model, {"nb201.arch": format_arch(ops), "nb201.dataset": ds,
                                   "nb201.seed": str(seed), "nb201.num_classes": str(k),
                                   FEATURES_KEY: ",".join(taps)})
    return model


# ----------------------------------------------------------------------------- search space

@register_space("nb201")
class NB201Space(SearchSpace):
    """NAS-Bench-201 for one dataset; encodings are canonical arch strings."""

    name = "nb201"
    datasets = tuple(DATASETS)

    def __init__(self, dataset: str = "cifar10", bn_training: bool = True):
        self.dataset = canonical_dataset(dataset)
        self.num_classes = DATASETS[self.dataset][1]
        self.bn_training = bn_training

    def sample(self, rng: np.random.Generator) -> str:
        return format_arch([OPS[i] for i in rng.integers(0, len(OPS), size=len(EDGES))])

    def mutate(self, encoding: Arch, rng: np.random.Generator) -> str:
        ops = list(to_ops(encoding))
        e = int(rng.integers(len(EDGES)))
        choices = [op for op in OPS if op != ops[e]]
        ops[e] = choices[int(rng.integers(len(choices)))]
        return format_arch(ops)

    def build(self, encoding: Arch, seed: int = 0) -> onnx.ModelProto:
        return build_model(encoding, self.dataset, seed=seed, bn_training=self.bn_training)

    def params(self, encoding: Arch) -> int:
        return params(encoding, self.num_classes)

    def macs(self, encoding: Arch) -> int:
        return macs(encoding, self.dataset)

    def to_str(self, encoding: Arch) -> str:
        return format_arch(to_ops(encoding))

    def from_str(self, s: str) -> str:
        return format_arch(parse_arch(s))

    def all(self) -> Iterator[str]:
        return all_archs()

    def features(self, encoding: Arch) -> np.ndarray:
        """One-hot operation per edge (6 x 5 = 30 values), what hybrid search's predictors learn from."""
        out = np.zeros((len(EDGES), len(OPS)))
        out[np.arange(len(EDGES)), [OPS.index(op) for op in to_ops(encoding)]] = 1.0
        return out.ravel()

    def is_dead(self, encoding: Arch) -> bool:
        return is_dead(encoding)

    @property
    def benchmark(self):
        """NAS-Bench-201's accuracy table, protocol batch and dead cells for this dataset."""
        from onnxscore.spaces.nb201_benchmark import NB201Benchmark

        return NB201Benchmark(self)


# ----------------------------------------------------------------------------- accuracy table

_INT_COLUMNS = {"arch_index", "unique_group"}


def load_accuracies(path: Union[str, Path, None] = None) -> Dict[str, dict]:
    """Read nb201_accuracies.csv -> {arch_str: row dict} in benchmark-index order (floats; empty -> None).

    Each row also carries "cifar10", "cifar100", "ImageNet16-120": the test accuracies (percent).
    """
    if path is None:
        from onnxscore.datasets import DATA_ENV, shared_data_dir

        if not os.environ.get(DATA_ENV):  # the copy shipped with onnxscore (same rows, same floats)
            return _shipped_accuracies()
        d = shared_data_dir()
        if d is None:
            raise InputError(f"${DATA_ENV} is not a folder; point it at the folder holding nb201_accuracies.csv "
                             "or unset it to use the table shipped with onnxscore")
        path = d / "nb201_accuracies.csv"
    path = Path(path)
    if not path.is_file():
        raise InputError(f"accuracy table {path} does not exist; pass the path of nb201_accuracies.csv")
    table: Dict[str, dict] = {}
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        need = {"arch_index", "arch_str", *ACCURACY_COLUMNS.values()}
        missing = need - set(reader.fieldnames or ())
        if missing:
            raise InputError(f"{path} lacks column(s) {', '.join(sorted(missing))}; is it nb201_accuracies.csv?")
        for raw in reader:
            row: dict = {}
            for key, val in raw.items():
                if key == "arch_str":
                    row[key] = val
                elif key in _INT_COLUMNS:
                    row[key] = int(val)
                else:
                    row[key] = float(val) if val not in ("", None) else None
            for ds, col in ACCURACY_COLUMNS.items():
                row[ds] = row[col]
            table[row["arch_str"]] = row
    return table


SHIPPED_TABLE = Path(__file__).resolve().parents[1] / "data" / "nb201_table.npz"


def _shipped_accuracies() -> Dict[str, dict]:
    """load_accuracies() of onnxscore/data/nb201_table.npz (scripts/make_package_data.py writes it from
    nb201_accuracies.csv: op codes, and each column as integers scaled by its CSV decimals)."""
    if not SHIPPED_TABLE.is_file():
        raise InputError(f"the NB201 table shipped with onnxscore ({SHIPPED_TABLE}) is missing; reinstall "
                         "onnxscore or set ONNXSCORE_DATA to the folder holding nb201_accuracies.csv")
    with np.load(SHIPPED_TABLE) as f:
        ops = f["ops"]
        cols = []
        for key in f.files:
            if key.startswith("col_"):
                _, dec, name = key.split("_", 2)
                ints = f[key].astype(np.int64)
                na = ints == np.iinfo(np.int64).min
                vals = (ints.tolist() if name in _INT_COLUMNS else (ints / 10.0 ** int(dec)).tolist())
                cols.append((name, [None if m else v for v, m in zip(vals, na.tolist())]))
    table: Dict[str, dict] = {}
    for i, codes in enumerate(ops.tolist()):
        arch = format_arch([OPS[c] for c in codes])
        row: dict = {"arch_index": i, "arch_str": arch}
        for name, vals in cols:
            row[name] = vals[i]
        for ds, col in ACCURACY_COLUMNS.items():
            row[ds] = row[col]
        table[arch] = row
    return table


def get_accuracy(table: Dict[str, dict], arch: Arch, dataset: str = "cifar10") -> float:
    """Test accuracy (percent) of `arch` on `dataset` from a load_accuracies() table."""
    return table[format_arch(to_ops(arch))][canonical_dataset(dataset)]


__all__ = [
    "OPS", "EDGES", "NASLIB_OPS", "NASLIB_EDGES", "DATASETS", "NUM_ARCHS", "NB201Space",
    "canonical_dataset", "parse_arch", "format_arch", "to_ops", "from_naslib", "to_naslib", "all_archs",
    "is_dead", "params", "macs", "build_model", "load_accuracies", "get_accuracy",
]
