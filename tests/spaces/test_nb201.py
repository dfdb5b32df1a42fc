"""NAS-Bench-201 space: encodings, closed-form counts against the shared tables, and the ONNX build."""

import csv
from collections import Counter

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper

from onnxscore.errors import InputError
from onnxscore.spaces import get_space, nb201, space_names
from onnxscore.spaces.base import SearchSpace

INDEX0 = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
INDEX1 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
ALL_CONV3 = nb201.format_arch(["nor_conv_3x3"] * 6)
ALL_NONE = nb201.format_arch(["none"] * 6)
# dead: node 3 only reachable through node 2, which has no live input
DEAD_PARTIAL = "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|nor_conv_1x1~2|"
DATASETS = ("cifar10", "cifar100", "ImageNet16-120")


def _session(model):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def _graph_params(model):
    """Sum of initializer sizes, excluding BN running statistics."""
    return sum(int(np.prod(t.dims)) for t in model.graph.initializer
               if not t.name.endswith(("running_mean", "running_var")))


def _graph_macs(model):
    """k^2*Cin*Cout*Hout*Wout per Conv plus Gemm weight+bias, from shape inference of the built graph."""
    inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
    shapes = {vi.name: [d.dim_value for d in vi.type.tensor_type.shape.dim] for vi in inferred.graph.value_info}
    inits = {t.name: list(t.dims) for t in model.graph.initializer}
    total = 0
    for n in model.graph.node:
        if n.op_type == "Conv":
            cout, cin, kh, kw = inits[n.input[1]]
            _, _, ho, wo = shapes[n.output[0]]
            assert ho > 0 and wo > 0
            total += kh * kw * cin * cout * ho * wo
        elif n.op_type == "Gemm":
            k, f = inits[n.input[1]]
            total += k * f + k
    return total


# ----------------------------------------------------------------------------- encodings

def test_parse_format_round_trip_all():
    archs = list(nb201.all_archs())
    assert len(set(archs)) == nb201.NUM_ARCHS == 15625
    for a in archs[::97]:
        ops = nb201.parse_arch(a)
        assert nb201.format_arch(ops) == a
        assert nb201.from_naslib(nb201.to_naslib(a)) == a


def test_parse_edge_order():
    ops = nb201.parse_arch(INDEX1)
    assert dict(zip(nb201.EDGES, ops)) == {
        (0, 1): "nor_conv_3x3", (0, 2): "nor_conv_3x3", (1, 2): "avg_pool_3x3",
        (0, 3): "skip_connect", (1, 3): "nor_conv_3x3", (2, 3): "skip_connect"}


def test_naslib_tuple_known_example():
    # NASLib ids 0 skip,1 none,2 conv3x3,3 conv1x1,4 pool on edges (1,2),(1,3),(1,4),(2,3),(2,4),(3,4)
    expect = "|skip_connect~0|+|none~0|nor_conv_1x1~1|+|nor_conv_3x3~0|avg_pool_3x3~1|skip_connect~2|"
    assert nb201.from_naslib((0, 1, 2, 3, 4, 0)) == expect
    assert nb201.to_naslib(expect) == (0, 1, 2, 3, 4, 0)


@pytest.mark.parametrize("bad", [
    "", "|none~0|+|none~0|none~1|", "|none~1|+|none~0|none~1|+|none~0|none~1|none~2|",
    "|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", "none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
    "|none~0|+|none~0|+|none~0|none~1|none~2|",
])
def test_parse_rejects_bad_strings(bad):
    with pytest.raises(InputError):
        nb201.parse_arch(bad)


def test_naslib_rejects_bad_ids():
    with pytest.raises(InputError):
        nb201.from_naslib((0, 1, 2, 3, 4, 5))


def test_dead_count():
    assert sum(nb201.is_dead(a) for a in nb201.all_archs()) == 341
    assert nb201.is_dead(ALL_NONE) and nb201.is_dead(DEAD_PARTIAL)
    assert not nb201.is_dead(INDEX0)


def test_dead_archs_sit_at_chance(shared_data):
    table = nb201.load_accuracies(shared_data / "nb201_accuracies.csv")
    dead = [a for a in table if nb201.is_dead(a)]
    assert len(dead) == 341
    assert all(abs(table[a]["cifar10"] - 10.0) < 0.01 for a in dead)


# ----------------------------------------------------------------------------- registry / SearchSpace

def test_registry():
    assert "nb201" in space_names()
    space = get_space("nb201", dataset="cifar100")
    assert isinstance(space, SearchSpace) and space.num_classes == 100
    with pytest.raises(InputError):
        get_space("no-such-space")
    with pytest.raises(InputError):
        get_space("nb201", dataset="mnist")


def test_sample_and_mutate():
    space = get_space("nb201")
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(200):
        a = space.sample(rng)
        seen.add(a)
        b = space.mutate(a, rng)
        diff = sum(x != y for x, y in zip(nb201.parse_arch(a), nb201.parse_arch(b)))
        assert diff == 1
        assert space.from_str(space.to_str(b)) == b
    assert len(seen) > 150  # uniform over 15,625: repeats are rare
    assert sum(1 for _ in space.all()) == 15625


# ----------------------------------------------------------------------------- counts

def test_params_formula_matches_table_for_all(shared_data):
    with open(shared_data / "nb201_accuracies.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 15625
    bad = [r["arch_index"] for r in rows
           if round(nb201.params(r["arch_str"]) / 1e6, 6) != float(r["params_calc_m_cifar10"])]
    assert bad == []


def test_params_formula_matches_naslib_all_datasets(shared_data):
    with open(shared_data / "nb201_zc_naslib.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    ncls = {"cifar10": 10, "cifar100": 100, "ImageNet16-120": 120}
    bad = [(r["arch_index"], r["dataset"]) for r in rows
           if abs(nb201.params(r["arch_str"], ncls[r["dataset"]]) / 1e6 - float(r["params"])) > 5e-7]
    assert bad == [] and len(rows) == 2173


def test_params_documented_examples():
    assert nb201.params(ALL_NONE) == 73306
    assert nb201.params(INDEX0) == 129306
    assert nb201.params(ALL_CONV3) == 1531546
    assert nb201.params(INDEX0, 100) - nb201.params(INDEX0, 10) == 5850
    assert nb201.params(INDEX0, 120) - nb201.params(INDEX0, 10) == 7150


def test_macs_documented_examples():
    assert round(nb201.macs(INDEX0, "cifar10") / 1e6, 2) == 15.65
    assert round(nb201.macs(ALL_CONV3, "cifar10") / 1e6, 2) == 220.12
    assert round(nb201.macs(ALL_NONE, "cifar10") / 1e6, 2) == 7.78
    assert round(nb201.macs(INDEX0, "ImageNet16-120") / 1e6, 2) == 3.92


def _sample_archs(n=20):
    rng = np.random.default_rng(5)
    archs = [INDEX0, INDEX1, ALL_CONV3, ALL_NONE, DEAD_PARTIAL]
    all_a = list(nb201.all_archs())
    archs += [all_a[i] for i in rng.choice(len(all_a), n - len(archs), replace=False)]
    return archs


def test_graph_params_and_macs_equal_formula():
    for i, a in enumerate(_sample_archs()):
        ds = DATASETS[i % 3]
        m = nb201.build_model(a, ds, seed=i)
        k = nb201.DATASETS[ds][1]
        assert _graph_params(m) == nb201.params(a, k), (a, ds)
        if i < 8:
            assert _graph_macs(m) == nb201.macs(a, ds), (a, ds)


# ----------------------------------------------------------------------------- ONNX build

@pytest.mark.parametrize("arch", [INDEX1, DEAD_PARTIAL])
def test_build_structure(arch):
    m = nb201.build_model(arch, "cifar10", seed=1)
    onnx.checker.check_model(m, full_check=True)
    assert m.ir_version == 10
    assert [(o.domain, o.version) for o in m.opset_import] == [("", 17)]
    inp = m.graph.input[0]
    assert inp.name == "input" and m.graph.output[0].name == "logits"
    assert [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim] == ["batch", 3, 32, 32]
    ops = nb201.parse_arch(arch)
    n_conv = sum(op.startswith("nor_conv") for op in ops)
    counts = Counter(n.op_type for n in m.graph.node)
    assert counts["Relu"] == 15 * n_conv + 5  # one per conv edge per cell, 2 per reduction block, last
    assert counts["BatchNormalization"] == 15 * n_conv + 6
    assert counts["Conv"] == 15 * n_conv + 7
    relu_inputs = [n.input[0] for n in m.graph.node if n.op_type == "Relu"]
    assert len(set(relu_inputs)) < len(relu_inputs) or arch == DEAD_PARTIAL  # shared inputs, own Relu nodes
    for n in m.graph.node:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
        if n.op_type == "BatchNormalization":
            assert attrs["training_mode"] == 1 and len(n.output) == 3
        if n.op_type == "AveragePool" and list(attrs["kernel_shape"]) == [3, 3]:
            assert attrs["count_include_pad"] == 0 and list(attrs["pads"]) == [1, 1, 1, 1]


def test_weights_follow_pytorch_default_bounds():
    m = nb201.build_model(ALL_CONV3, "cifar100", seed=7)
    w = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    for name, arr in w.items():
        if name.endswith("running_var") or (name.endswith(".weight") and arr.ndim == 1):
            assert np.all(arr == 1.0), name
        elif name.endswith("running_mean") or (name.endswith(".bias") and not name.startswith("classifier")):
            assert np.all(arr == 0.0), name
        else:
            fan_in = 64 if name.startswith("classifier") else int(np.prod(arr.shape[1:]))
            bound = 1 / np.sqrt(fan_in)
            assert np.abs(arr).max() <= bound and np.abs(arr).max() > 0.9 * bound, name
    m2 = nb201.build_model(ALL_CONV3, "cifar100", seed=7)
    m3 = nb201.build_model(ALL_CONV3, "cifar100", seed=8)
    assert m2.SerializeToString() == m.SerializeToString()
    assert m3.graph.initializer[0].raw_data != m.graph.initializer[0].raw_data


@pytest.mark.parametrize("ds", DATASETS)
def test_dead_archs_run_and_are_constant(ds):
    side, k = nb201.DATASETS[ds]
    x = np.random.default_rng(0).standard_normal((6, 3, side, side)).astype(np.float32)
    for arch in (ALL_NONE, DEAD_PARTIAL):
        y = _session(nb201.build_model(arch, ds, seed=2)).run(None, {"input": x})[0]
        assert y.shape == (6, k) and np.isfinite(y).all()
        assert np.all(y == y[0])
    y = _session(nb201.build_model(INDEX0, ds, seed=2)).run(None, {"input": x})[0]
    assert np.abs(y - y[0]).max() > 1e-4  # a live arch separates the inputs


def test_accuracy_loader(shared_data):
    table = nb201.load_accuracies(shared_data / "nb201_accuracies.csv")
    assert len(table) == 15625
    first = next(iter(table.values()))
    assert first["arch_index"] == 0 and first["arch_str"] == INDEX0
    assert table[INDEX1]["arch_index"] == 1
    for ds in DATASETS:
        assert 0 < nb201.get_accuracy(table, INDEX1, ds) <= 100
    assert table[INDEX1]["cifar10"] == table[INDEX1]["cifar10_acc"]
    with pytest.raises(InputError):
        nb201.load_accuracies(shared_data / "missing.csv")
