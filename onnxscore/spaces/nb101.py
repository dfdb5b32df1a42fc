"""NAS-Bench-101 (Ying et al. 2019): cell strings, pruning, closed-form counts and a torch-free ONNX builder.

The skeleton is google-research/nasbench `nasbench/lib/model_builder.py` with the default config
(`config.py`): stem conv_bn_relu 3x3 -> 128 channels; 3 stacks of 3 modules (cells); before stacks 1 and 2 a
2x2/2 max-pool and the channel count doubles (so the first cell of those stacks reads half its output
channels); global average pool; dense 10-way classifier with bias. Every conv has no bias and is followed by
BatchNormalization (scale and shift trainable) and ReLU.

Inside a cell (`build_module`): vertex t sums its inputs, each interior source truncated to vertex t's
channels (`truncate`: keep the first channels) and the cell input through a 1x1 conv_bn_relu projection;
the output vertex concatenates (in vertex order) the vertices feeding it and adds a projection of the cell
input when the input feeds the output directly (only that projection when no interior vertex does).
Vertex channels are `compute_vertex_channels`. A cell is pruned first (`ModelSpec._prune`): vertices not on
an input -> output path are deleted, the others keep their order.

A cell's string is the pruned adjacency matrix, rows of 0/1 joined by ';', then ',' then the op labels
joined by '|' (the two columns of nb101_zc_naslib.csv): "0011;0001;0001;0000,input|maxpool3x3|
conv1x1-bn-relu|output". The pruned cell has 2..7 vertices. Isomorphic cells can have different strings;
`graph_hash` is NAS-Bench-101's isomorphism-invariant hash (`ModelSpec.hash_spec`), the key of its dataset.

BatchNormalization is in inference form (scale 1, shift 0, mean 0, var 1); the scorer rewrites it to batch
statistics. Weights are drawn PyTorch-default style (U(+-1/sqrt(fan_in))) from the build seed.
"""

from __future__ import annotations

import hashlib
import math
from typing import Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np
import onnx
from onnx import TensorProto, helper

from onnxscore.errors import InputError
from onnxscore.graph.features import FEATURES_KEY
from onnxscore.spaces import register_space
from onnxscore.spaces.base import SearchSpace
from onnxscore.spaces.nb201 import _Builder as _NB201Builder

INPUT, OUTPUT = "input", "output"
CONV3X3, CONV1X1, MAXPOOL = "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"
# config['available_ops'] order (hash labels are indices into it)
OPS: Tuple[str, ...] = (CONV3X3, CONV1X1, MAXPOOL)
NUM_VERTICES = 7
MAX_EDGES = 9
STEM_CHANNELS = 128
NUM_STACKS = 3
MODULES_PER_STACK = 3
NUM_CLASSES = 10
IMAGE_SIDE = 32
N_FEATURES = NUM_VERTICES * (NUM_VERTICES - 1) // 2 + (NUM_VERTICES - 2) * len(OPS)  # 21 + 15

Cell = Tuple[Tuple[Tuple[int, ...], ...], Tuple[str, ...]]  # (matrix rows, ops), pruned
Encoding = Union[str, Cell]


# ----------------------------------------------------------------------------- cells and strings

def _parse(s: str) -> Tuple[np.ndarray, List[str]]:
    if not isinstance(s, str):
        raise InputError(f"NAS-Bench-101 cell must be a string 'ROWS,OPS', got {type(s).__name__}")
    adj, sep, ops = s.strip().partition(",")
    if not sep:
        raise InputError(f"bad NAS-Bench-101 cell {s!r}: expected 'adjacency rows joined by ; , ops joined by |'")
    rows = adj.strip().split(";")
    labels = [o.strip() for o in ops.split("|")]
    n = len(rows)
    if any(len(r) != n or set(r) - {"0", "1"} for r in rows):
        raise InputError(f"bad NAS-Bench-101 cell {s!r}: the adjacency must be {n} rows of {n} digits 0/1")
    if len(labels) != n:
        raise InputError(f"bad NAS-Bench-101 cell {s!r}: {n} vertices need {n} op labels, got {len(labels)}")
    return np.array([[int(c) for c in r] for r in rows], dtype=np.int64), labels


def _check(matrix: np.ndarray, ops: Sequence[str], what: str) -> None:
    n = matrix.shape[0]
    if not 2 <= n <= NUM_VERTICES:
        raise InputError(f"NAS-Bench-101 cell {what} has {n} vertices; it needs 2..{NUM_VERTICES}")
    if np.any(np.tril(matrix) != 0):
        raise InputError(f"NAS-Bench-101 cell {what}: the adjacency must be strictly upper-triangular")
    if ops[0] != INPUT or ops[-1] != OUTPUT:
        raise InputError(f"NAS-Bench-101 cell {what}: the first op must be 'input' and the last 'output'")
    bad = [o for o in ops[1:-1] if o not in OPS]
    if bad:
        raise InputError(f"NAS-Bench-101 cell {what}: unknown op {bad[0]!r}; interior ops are {', '.join(OPS)}")


def prune(matrix: np.ndarray, ops: Sequence[str]) -> Optional[Tuple[np.ndarray, List[str]]]:
    """ModelSpec._prune: drop vertices not on an input -> output path (order kept); None when the
    input does not reach the output."""
    n = matrix.shape[0]
    fwd, frontier = {0}, [0]
    while frontier:
        top = frontier.pop()
        for v in range(top + 1, n):
            if matrix[top, v] and v not in fwd:
                fwd.add(v)
                frontier.append(v)
    bwd, frontier = {n - 1}, [n - 1]
    while frontier:
        top = frontier.pop()
        for v in range(top):
            if matrix[v, top] and v not in bwd:
                bwd.add(v)
                frontier.append(v)
    keep = sorted(fwd & bwd)
    if len(keep) < 2:  # the reference: more than V-2 extraneous vertices -> invalid spec
        return None
    return matrix[np.ix_(keep, keep)].copy(), [ops[k] for k in keep]


def _cell(matrix: np.ndarray, ops: Sequence[str]) -> Cell:
    return tuple(tuple(int(x) for x in row) for row in matrix), tuple(ops)


def _format(cell: Cell) -> str:
    rows, ops = cell
    return ";".join("".join(str(x) for x in r) for r in rows) + "," + "|".join(ops)


def to_cell(enc: Encoding, *, check_edges: bool = True) -> Cell:
    """Any cell string (or (matrix, ops) pair) -> the pruned cell; InputError when it is not a valid
    NAS-Bench-101 cell (input not reaching output, or more than 9 edges after pruning)."""
    if isinstance(enc, str):
        matrix, ops = _parse(enc)
        what = repr(enc)
    else:
        try:
            m, ops = enc
            matrix, ops = np.asarray(m, dtype=np.int64), list(ops)
        except (TypeError, ValueError):
            raise InputError(f"NAS-Bench-101 cell must be a string or (matrix, ops); got {enc!r}") from None
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] != len(ops):
            raise InputError(f"NAS-Bench-101 cell: matrix {matrix.shape} does not match {len(ops)} ops")
        if np.any((matrix != 0) & (matrix != 1)):
            raise InputError("NAS-Bench-101 cell: the adjacency must hold 0/1")
        what = "(matrix, ops)"
    _check(matrix, ops, what)
    pruned = prune(matrix, ops)
    if pruned is None:
        raise InputError(f"NAS-Bench-101 cell {what}: the input does not reach the output")
    pm, pops = pruned
    if check_edges and int(pm.sum()) > MAX_EDGES:
        raise InputError(f"NAS-Bench-101 cell {what} has {int(pm.sum())} edges after pruning; at most {MAX_EDGES}")
    return _cell(pm, pops)


def canonical(enc: Encoding) -> str:
    """The canonical (pruned) string of a cell."""
    return _format(to_cell(enc))


def is_valid(enc: Encoding) -> bool:
    """NAS-Bench-101's is_valid: input reaches output and at most 9 edges (and 7 vertices) after pruning."""
    try:
        to_cell(enc)
        return True
    except InputError:
        return False


def _arrays(enc: Encoding) -> Tuple[np.ndarray, Tuple[str, ...]]:
    rows, ops = to_cell(enc)
    return np.array(rows, dtype=np.int64), ops


def graph_hash(enc: Encoding) -> str:
    """NAS-Bench-101's isomorphism-invariant hash of the pruned cell (`graph_util.hash_module` with labels
    -1 input, -2 output, interior the index in config['available_ops']): the key of its dataset."""
    matrix, ops = _arrays(enc)
    n = matrix.shape[0]
    labeling = [-1] + [OPS.index(o) for o in ops[1:-1]] + [-2]
    in_edges, out_edges = matrix.sum(axis=0).tolist(), matrix.sum(axis=1).tolist()
    hashes = [hashlib.md5(str(h).encode("utf-8")).hexdigest() for h in zip(out_edges, in_edges, labeling)]
    for _ in range(n):
        hashes = [hashlib.md5(("".join(sorted(hashes[w] for w in range(n) if matrix[w, v])) + "|"
                               + "".join(sorted(hashes[w] for w in range(n) if matrix[v, w])) + "|"
                               + hashes[v]).encode("utf-8")).hexdigest() for v in range(n)]
    return hashlib.md5(str(sorted(hashes)).encode("utf-8")).hexdigest()


# ----------------------------------------------------------------------------- channels and counts

def compute_vertex_channels(input_channels: int, output_channels: int, matrix: np.ndarray) -> List[int]:
    """model_builder.compute_vertex_channels on a pruned matrix."""
    n = matrix.shape[0]
    vc = [0] * n
    vc[0], vc[n - 1] = input_channels, output_channels
    if n == 2:
        return vc
    in_degree = matrix[1:].sum(axis=0)
    interior = output_channels // int(in_degree[n - 1])
    correction = output_channels % int(in_degree[n - 1])
    for v in range(1, n - 1):
        if matrix[v, n - 1]:
            vc[v] = interior
            if correction:
                vc[v] += 1
                correction -= 1
    for v in range(n - 3, 0, -1):
        if not matrix[v, n - 1]:
            for dst in range(v + 1, n - 1):
                if matrix[v, dst]:
                    vc[v] = max(vc[v], vc[dst])
        assert vc[v] > 0
    return vc


def _cells_plan() -> Iterable[Tuple[int, int, int, int]]:
    """(stack, module, input channels, output channels) of the 9 cells (stack s runs at side 32 >> s)."""
    channels = STEM_CHANNELS
    for s in range(NUM_STACKS):
        cin = channels
        if s > 0:
            channels *= 2
        for m in range(MODULES_PER_STACK):
            yield s, m, (cin if m == 0 else channels), channels


def _cell_terms(matrix: np.ndarray, ops: Sequence[str], cin: int, cout: int) -> Tuple[int, int]:
    """(params, MACs per pixel) of one cell: projections and conv ops (BN scale+shift per conv)."""
    n = matrix.shape[0]
    vc = compute_vertex_channels(cin, cout, matrix)
    p = macs = 0
    for t in range(1, n - 1):
        if matrix[0, t]:
            p += cin * vc[t] + 2 * vc[t]
            macs += cin * vc[t]
        k = {CONV3X3: 3, CONV1X1: 1}.get(ops[t])
        if k:
            p += k * k * vc[t] * vc[t] + 2 * vc[t]
            macs += k * k * vc[t] * vc[t]
    if matrix[0, n - 1]:
        p += cin * cout + 2 * cout
        macs += cin * cout
    return p, macs


def params(enc: Encoding) -> int:
    """Trainable parameters (conv weights, BN scale/shift, dense weight+bias; no BN running stats): the
    count NAS-Bench-101 reports as trainable_parameters."""
    matrix, ops = _arrays(enc)
    total = 9 * 3 * STEM_CHANNELS + 2 * STEM_CHANNELS
    c = STEM_CHANNELS
    for _, _, cin, cout in _cells_plan():
        total += _cell_terms(matrix, ops, cin, cout)[0]
        c = cout
    return total + c * NUM_CLASSES + NUM_CLASSES


def macs(enc: Encoding) -> int:
    """Multiply-accumulates per 32x32 sample over convs and the dense layer (bias counted), onnxscore's
    MAC convention (Conv/Gemm only; pooling, BN, adds not counted)."""
    matrix, ops = _arrays(enc)
    side = IMAGE_SIDE
    total = 9 * 3 * STEM_CHANNELS * side * side
    c = STEM_CHANNELS
    for s, _, cin, cout in _cells_plan():
        hs = side >> s
        total += _cell_terms(matrix, ops, cin, cout)[1] * hs * hs
        c = cout
    return total + c * NUM_CLASSES + NUM_CLASSES


# ----------------------------------------------------------------------------- ONNX builder

class _Builder(_NB201Builder):
    """NB201's node/initializer accumulator (PyTorch-default weights from one numpy Generator) plus
    NAS-Bench-101's conv_bn_relu."""

    def conv_bn_relu(self, x: str, path: str, cin: int, cout: int, k: int) -> str:
        """base_ops.conv_bn_relu: conv (no bias, stride 1, 'same') -> BN -> ReLU."""
        w = self._init(f"{path}.conv.weight", self._uniform(1.0 / math.sqrt(cin * k * k), (cout, cin, k, k)))
        h = self.node("Conv", [x, w], f"{path}.conv", kernel_shape=[k, k], strides=[1, 1],
                      pads=[k // 2] * 4, dilations=[1, 1], group=1)
        bn = f"{path}.bn"
        ins = [h, self._init(f"{bn}.weight", np.ones(cout)), self._init(f"{bn}.bias", np.zeros(cout)),
               self._init(f"{bn}.running_mean", np.zeros(cout)), self._init(f"{bn}.running_var", np.ones(cout))]
        if self.bn_training:
            h = self.node("BatchNormalization", ins, bn, [bn, f"{bn}.running_mean_out", f"{bn}.running_var_out"],
                          epsilon=1e-5, momentum=0.997, training_mode=1)
        else:
            h = self.node("BatchNormalization", ins, bn, epsilon=1e-5, momentum=0.997, training_mode=0)
        return self.node("Relu", [h], f"{path}.relu")

    def truncate(self, x: str, path: str, have: int, want: int) -> str:
        if have == want:
            return x
        if have - want != 1:  # the reference asserts the same
            raise AssertionError(f"truncate {have} -> {want} channels")
        starts = self._init(f"{path}.starts", np.array([0]), np.int64)
        ends = self._init(f"{path}.ends", np.array([want]), np.int64)
        axes = self._init(f"{path}.axes", np.array([1]), np.int64)
        return self.node("Slice", [x, starts, ends, axes], path)

    def cell(self, x: str, path: str, matrix: np.ndarray, ops: Sequence[str], cin: int, cout: int) -> str:
        """model_builder.build_module on a pruned matrix."""
        n = matrix.shape[0]
        vc = compute_vertex_channels(cin, cout, matrix)
        tensors = [x]
        concat_in = []
        for t in range(1, n - 1):
            vp = f"{path}.vertex_{t}"
            add_in = [self.truncate(tensors[src], f"{vp}.truncate_{src}", vc[src], vc[t])
                      for src in range(1, t) if matrix[src, t]]
            if matrix[0, t]:
                add_in.append(self.conv_bn_relu(x, f"{vp}.projection", cin, vc[t], 1))
            h = add_in[0]
            for k, term in enumerate(add_in[1:]):
                h = self.node("Add", [h, term], f"{vp}.add{k}")
            op = ops[t]
            if op == MAXPOOL:
                h = self.node("MaxPool", [h], f"{vp}.maxpool", kernel_shape=[3, 3], strides=[1, 1],
                              pads=[1, 1, 1, 1])
            else:
                h = self.conv_bn_relu(h, f"{vp}.{'conv3x3' if op == CONV3X3 else 'conv1x1'}", vc[t], vc[t],
                                      3 if op == CONV3X3 else 1)
            tensors.append(h)
            if matrix[t, n - 1]:
                concat_in.append(h)
        if not concat_in:
            return self.conv_bn_relu(x, f"{path}.output.projection", cin, cout, 1)
        out = concat_in[0] if len(concat_in) == 1 else self.node("Concat", concat_in, f"{path}.concat", axis=1)
        if matrix[0, n - 1]:
            proj = self.conv_bn_relu(x, f"{path}.output.projection", cin, cout, 1)
            out = self.node("Add", [out, proj], f"{path}.output.add")
        return out


def build_model(enc: Encoding, seed: int = 0, bn_training: bool = False) -> onnx.ModelProto:
    """The untrained NAS-Bench-101 network as ONNX: input 'input' [batch,3,32,32], output 'logits' [batch,10]."""
    matrix, ops = _arrays(enc)
    b = _Builder(seed, bn_training)
    h = b.conv_bn_relu("input", "stem", 3, STEM_CHANNELS, 3)
    taps = [h]  # feature maps for stage-wise proxies (AZ-NAS): the stem's output, then every cell's
    c = STEM_CHANNELS
    for s, m, cin, cout in _cells_plan():
        if s > 0 and m == 0:
            h = b.node("MaxPool", [h], f"downsample{s}", kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 0, 0])
        h = b.cell(h, f"stack{s}.module{m}", matrix, ops, cin, cout)
        taps.append(h)
        c = cout
    h = b.node("GlobalAveragePool", [h], "global_pool")
    h = b.node("Flatten", [h], "flatten", axis=1)
    bound = 1.0 / math.sqrt(c)
    w = b._init("classifier.weight", b._uniform(bound, (NUM_CLASSES, c)))
    bias = b._init("classifier.bias", b._uniform(bound, (NUM_CLASSES,)))
    b.node("Gemm", [h, w, bias], "classifier", ["logits"], transB=1)
    graph = helper.make_graph(
        b.nodes, "nb101",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, IMAGE_SIDE, IMAGE_SIDE])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", NUM_CLASSES])],
        initializer=b.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="onnxscore")
    model.ir_version = 10
    helper.set_model_props(model, {"nb101.cell": canonical(enc), "nb101.seed": str(seed),
                                   FEATURES_KEY: ",".join(taps)})
    return model


# ----------------------------------------------------------------------------- sampling and mutation

def sample_cell(rng: np.random.Generator) -> str:
    """The reference's random_spec (NASBench.ipynb, NASLib): a uniform 7x7 upper-triangular 0/1 matrix and
    uniform interior ops, redrawn until valid (input reaches output, <= 9 edges after pruning); returns the
    pruned cell's string. Pruned cells often have fewer than 7 vertices."""
    while True:
        matrix = np.triu(rng.integers(0, 2, size=(NUM_VERTICES, NUM_VERTICES)), 1)
        ops = [INPUT] + [OPS[i] for i in rng.integers(0, len(OPS), size=NUM_VERTICES - 2)] + [OUTPUT]
        pruned = prune(matrix, ops)
        if pruned is not None and int(pruned[0].sum()) <= MAX_EDGES:
            return _format(_cell(*pruned))


def _moves(matrix: np.ndarray, ops: Sequence[str]) -> List[Tuple]:
    n = matrix.shape[0]
    moves: List[Tuple] = [("edge", i, j) for i in range(n - 1) for j in range(i + 1, n)]
    moves += [("op", t, o) for t in range(1, n - 1) for o in OPS if o != ops[t]]
    return moves


def mutate_cell(enc: Encoding, rng: np.random.Generator) -> str:
    """Flip one edge or change one interior op of the pruned cell, uniformly among the changes that give a
    valid cell needing no pruning (every vertex still on an input -> output path, <= 9 edges): the result
    differs from `enc` in exactly one edge or one op, with the same vertices. Adding or removing a vertex
    takes at least two edge changes, so vertex counts are kept; the one exception is the 2-vertex cell
    (input -> output only), which has no such change: it gets one vertex (random op) between input and
    output (edges input->v, v->output added)."""
    matrix, ops = _arrays(enc)
    n = matrix.shape[0]
    if n == 2:
        op = OPS[int(rng.integers(len(OPS)))]
        return _format(_cell(np.array([[0, 1, 1], [0, 0, 1], [0, 0, 0]]), [INPUT, op, OUTPUT]))
    moves = _moves(matrix, ops)
    for k in rng.permutation(len(moves)):
        kind, a, b = moves[int(k)]
        m, o = matrix.copy(), list(ops)
        if kind == "edge":
            m[a, b] = 1 - m[a, b]
        else:
            o[a] = b
        if int(m.sum()) > MAX_EDGES:
            continue
        pruned = prune(m, o)
        if pruned is None or pruned[0].shape[0] != n:
            continue
        return _format(_cell(m, o))
    raise AssertionError("unreachable: a cell with an interior vertex can always change its op")


def features(enc: Encoding) -> np.ndarray:
    """36 values: the upper triangle (row-major) of the pruned matrix padded to 7 vertices (interior vertices
    first, padding vertices isolated, output last) and one-hot ops (available_ops order) of the 5 interior
    slots (all zero for padding)."""
    matrix, ops = _arrays(enc)
    n = matrix.shape[0]
    pos = list(range(n - 1)) + [NUM_VERTICES - 1]  # old vertex -> padded position
    full = np.zeros((NUM_VERTICES, NUM_VERTICES))
    for i in range(n):
        for j in range(n):
            full[pos[i], pos[j]] = matrix[i, j]
    onehot = np.zeros((NUM_VERTICES - 2, len(OPS)))
    for t in range(1, n - 1):
        onehot[t - 1, OPS.index(ops[t])] = 1.0
    return np.concatenate([full[np.triu_indices(NUM_VERTICES, 1)], onehot.ravel()])


# ----------------------------------------------------------------------------- search space

@register_space("nb101")
class NB101Space(SearchSpace):
    """NAS-Bench-101 on CIFAR-10; encodings are canonical (pruned) cell strings."""

    name = "nb101"
    datasets = ("cifar10",)

    def __init__(self, dataset: str = "cifar10", bn_training: bool = False):
        if str(dataset).lower().replace("-", "") not in ("cifar10", "c10"):
            raise InputError(f"NAS-Bench-101 has only the cifar10 dataset, not {dataset!r}")
        self.dataset = "cifar10"
        self.num_classes = NUM_CLASSES
        self.bn_training = bool(bn_training)

    def sample(self, rng: np.random.Generator) -> str:
        return sample_cell(rng)

    def mutate(self, encoding: Encoding, rng: np.random.Generator) -> str:
        return mutate_cell(encoding, rng)

    def build(self, encoding: Encoding, seed: int = 0) -> onnx.ModelProto:
        return build_model(encoding, seed=seed, bn_training=self.bn_training)

    def params(self, encoding: Encoding) -> int:
        return params(encoding)

    def macs(self, encoding: Encoding) -> int:
        return macs(encoding)

    def to_str(self, encoding: Encoding) -> str:
        return canonical(encoding)

    def from_str(self, s: str) -> str:
        return canonical(s)

    def features(self, encoding: Encoding) -> np.ndarray:
        return features(encoding)

    def graph_hash(self, encoding: Encoding) -> str:
        return graph_hash(encoding)

    @property
    def benchmark(self):
        """The 500 NASLib cells of nb101_zc_naslib.csv with their validation accuracy, CIFAR-10 batch."""
        from onnxscore.spaces.nb101_benchmark import NB101Benchmark

        return NB101Benchmark(self)


__all__ = [
    "OPS", "NUM_VERTICES", "MAX_EDGES", "N_FEATURES", "NB101Space", "prune", "to_cell", "canonical", "is_valid",
    "graph_hash", "compute_vertex_channels", "params", "macs", "build_model", "sample_cell", "mutate_cell",
    "features",
]
