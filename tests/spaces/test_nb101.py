"""NAS-Bench-101 space: pruning and strings, the skeleton's parameter counts against NASLib's 500 cells,
sample/mutate validity, the ONNX build (checker, onnxruntime, MACs) and the Benchmark."""

import csv

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from onnxscore.edge.macs import count_macs
from onnxscore.errors import InputError
from onnxscore.graph.params import count_params
from onnxscore.spaces import get_space, nb101, space_names
from onnxscore.spaces.nb101_benchmark import CSV_NAME, NB101Benchmark

CONV = "conv3x3-bn-relu"
TRIVIAL = "01;00,input|output"  # input -> output: only the 1x1 projection per cell
# vertices 1, 2, 3 feed the output (128 = 43 + 43 + 42) and 1 -> 3 needs a 43 -> 42 channel truncation
TRUNCATE = "01100;00011;00001;00001;00000,input|conv3x3-bn-relu|maxpool3x3|conv1x1-bn-relu|output"
# the one CSV row that needs no pruning (7 vertices, 8 edges)
FULL = ("0110000;0001001;0000100;0000010;0000001;0000001;0000000,"
        "input|conv1x1-bn-relu|maxpool3x3|conv1x1-bn-relu|conv1x1-bn-relu|conv3x3-bn-relu|output")


@pytest.fixture(scope="module")
def space():
    return get_space("nb101")


@pytest.fixture(scope="module")
def csv_rows(shared_data):
    p = shared_data / CSV_NAME
    if not p.is_file():
        pytest.skip(f"{CSV_NAME} not found in {shared_data} (the NAS-Bench-101 cells come from the shared data)")
    with p.open(newline="") as f:
        return list(csv.DictReader(f))


def _raw(row):
    return f"{row['adjacency']},{row['ops']}"


def _session(model):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def _arrays(enc):
    rows, ops = nb101.to_cell(enc)
    return np.array(rows), list(ops)


def _connected(m):
    reach = {0}
    for i in range(m.shape[0]):
        if i in reach:
            reach |= {j for j in range(i + 1, m.shape[0]) if m[i, j]}
    return m.shape[0] - 1 in reach


# ----------------------------------------------------------------------------- skeleton against NASLib's counts

def test_params_of_all_csv_cells_match_naslib(space, csv_rows):
    """Closed form and the built graph both give NASLib's (NAS-Bench-101's) parameter count for all 500 cells."""
    assert len(csv_rows) == 500
    built = {}
    bad = []
    for i, row in enumerate(csv_rows):
        enc = space.from_str(_raw(row))
        if enc not in built:
            built[enc] = count_params(space.build(enc))
        ours, graph, want = space.params(enc), built[enc], float(row["params"])
        if not (abs(ours / 1e6 - want) < 5e-7 and abs(graph / 1e6 - want) < 5e-7 and ours == graph):
            bad.append((i, enc, ours, graph, want))
    assert not bad, f"{len(bad)} cells differ, first: {bad[:3]}"


def test_params_by_hand():
    """Independent of the CSV: the input -> output cell is stem + 9 projections + dense."""
    stem = 27 * 128 + 2 * 128
    proj = lambda cin, cout: cin * cout + 2 * cout  # noqa: E731  1x1 conv (no bias) + BN scale/shift
    cells = 3 * proj(128, 128) + proj(128, 256) + 2 * proj(256, 256) + proj(256, 512) + 2 * proj(512, 512)
    assert nb101.params(TRIVIAL) == stem + cells + 512 * 10 + 10 == 882570


def test_vertex_channels_follow_the_reference():
    m, _ = _arrays(TRUNCATE)
    assert nb101.compute_vertex_channels(128, 128, m) == [128, 43, 43, 42, 128]
    assert nb101.compute_vertex_channels(128, 256, m) == [128, 86, 85, 85, 256]
    # a vertex not feeding the output takes the max of its successors
    m2, _ = _arrays("01000;00110;00001;00001;00000,input|conv3x3-bn-relu|conv3x3-bn-relu|conv3x3-bn-relu|output")
    assert nb101.compute_vertex_channels(128, 128, m2) == [128, 64, 64, 64, 128]


# ----------------------------------------------------------------------------- strings and pruning

def test_prune_drops_vertices_off_the_input_output_paths():
    # CSV row 0: vertex 5 has no out-edge; pruning it leaves 6 vertices and 9 of the 11 edges
    raw = ("0111101;0000011;0000001;0000110;0000011;0000000;0000000,"
           "input|maxpool3x3|maxpool3x3|conv3x3-bn-relu|conv3x3-bn-relu|conv3x3-bn-relu|output")
    assert nb101.canonical(raw) == ("011111;000001;000001;000010;000001;000000,"
                                    "input|maxpool3x3|maxpool3x3|conv3x3-bn-relu|conv3x3-bn-relu|output")
    # a vertex reached from the input but feeding nothing, and one feeding the output but never reached
    assert nb101.canonical("0101;0000;0001;0000,input|conv3x3-bn-relu|maxpool3x3|output") == "01;00,input|output"


def test_string_round_trip_of_the_csv_cells(space, csv_rows):
    for row in csv_rows:
        enc = space.from_str(_raw(row))
        s = space.to_str(enc)
        assert space.from_str(s) == enc and space.to_str(space.from_str(s)) == s
        rows, ops = nb101.to_cell(enc)
        assert len(rows) == len(ops) <= 7 and sum(map(sum, rows)) <= 9
    assert space.to_str(space.from_str(FULL)) == FULL  # a cell needing no pruning keeps its string
    assert FULL in {_raw(r) for r in csv_rows}


def test_invalid_cells_are_refused(space):
    with pytest.raises(InputError, match="does not reach"):
        space.from_str("010;000;000,input|conv3x3-bn-relu|output")
    with pytest.raises(InputError, match="edges"):  # 11 edges, all on paths
        space.from_str("011110;001001;000101;000011;000001;000000,"
                       "input|conv3x3-bn-relu|conv3x3-bn-relu|conv3x3-bn-relu|conv3x3-bn-relu|output")
    with pytest.raises(InputError, match="unknown op"):
        space.from_str("011;001;000,input|conv5x5|output")
    with pytest.raises(InputError):
        space.from_str("01;0,input|output")
    with pytest.raises(InputError, match="upper-triangular"):
        space.from_str("01;10,input|output")


def test_graph_hash_is_isomorphism_invariant():
    a = "01100;00001;00010;00001;00000,input|conv3x3-bn-relu|maxpool3x3|conv1x1-bn-relu|output"
    b = "01010;00100;00001;00001;00000,input|maxpool3x3|conv1x1-bn-relu|conv3x3-bn-relu|output"
    assert nb101.canonical(a) != nb101.canonical(b)
    assert nb101.graph_hash(a) == nb101.graph_hash(b)
    c = a.replace("maxpool3x3", "conv3x3-bn-relu")
    assert nb101.graph_hash(c) != nb101.graph_hash(a)


# ----------------------------------------------------------------------------- sample and mutate

def _diff(a, b):
    (ma, oa), (mb, ob) = _arrays(a), _arrays(b)
    assert ma.shape == mb.shape
    return int((ma != mb).sum()) + sum(x != y for x, y in zip(oa, ob))


def test_sample_and_mutate_give_valid_cells(space):
    rng = np.random.default_rng(0)
    sizes = set()
    for _ in range(300):
        enc = space.sample(rng)
        m, ops = _arrays(enc)
        sizes.add(m.shape[0])
        assert m.shape[0] <= 7 and m.sum() <= 9 and _connected(m)
        assert space.to_str(enc) == enc and nb101.prune(m, ops)[0].shape == m.shape  # already canonical
        child = space.mutate(enc, rng)
        cm, _ = _arrays(child)
        assert cm.sum() <= 9 and _connected(cm) and space.to_str(child) == child
        if m.shape[0] == 2:  # the input -> output cell grows one vertex
            assert cm.shape[0] == 3 and cm.sum() == 3
        else:
            assert _diff(enc, child) == 1
    assert {2, 3, 4, 5, 6} <= sizes  # the reference's raw draw, pruned: mostly small cells


def test_mutation_chain_stays_valid(space):
    rng = np.random.default_rng(1)
    enc = FULL
    for _ in range(200):
        child = space.mutate(enc, rng)
        assert nb101.is_valid(child) and _diff(enc, child) == 1
        enc = child


def test_features(space):
    f = space.features(FULL)
    assert f.shape == (nb101.N_FEATURES,) == (36,)
    assert f[:21].sum() == 8 and f[21:].sum() == 5
    t = space.features(TRIVIAL)
    assert t[:21].sum() == 1 and t[5] == 1 and t[21:].sum() == 0  # edge (0, 6) is index 5 of the triangle
    assert not np.array_equal(space.features(TRUNCATE), space.features(TRUNCATE.replace("maxpool3x3", CONV)))


# ----------------------------------------------------------------------------- ONNX build

@pytest.mark.parametrize("enc", [TRIVIAL, TRUNCATE, FULL, "sample"])
def test_build_checks_and_runs(space, enc):
    if enc == "sample":
        enc = space.sample(np.random.default_rng(7))
    m = space.build(enc, seed=3)
    onnx.checker.check_model(m, full_check=True)
    assert m.opset_import[0].version == 17 and m.ir_version == 10
    (inp,), (out,) = m.graph.input, m.graph.output
    dims = lambda vi: [d.dim_param or d.dim_value for d in vi.type.tensor_type.shape.dim]  # noqa: E731
    assert inp.name == "input" and dims(inp) == ["batch", 3, 32, 32] and dims(out) == ["batch", 10]
    assert not any(n.op_type == "Conv" and len(n.input) > 2 for n in m.graph.node)  # no conv bias
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    (y,) = _session(m).run(None, {"input": x})
    assert y.shape == (2, 10) and np.all(np.isfinite(y)) and np.ptp(y) > 0
    if enc == TRUNCATE:
        assert sum(n.op_type == "Slice" for n in m.graph.node) == 9  # one truncation per cell


def test_build_is_seeded(space):
    w = lambda m: onnx.numpy_helper.to_array(m.graph.initializer[0])  # noqa: E731
    assert np.array_equal(w(space.build(TRUNCATE, seed=1)), w(space.build(TRUNCATE, seed=1)))
    assert not np.array_equal(w(space.build(TRUNCATE, seed=1)), w(space.build(TRUNCATE, seed=2)))


@pytest.mark.parametrize("enc", [TRIVIAL, TRUNCATE, FULL])
def test_macs_match_the_onnx_counter(space, enc):
    m = space.build(enc)
    rep = count_macs(m)
    assert not rep.unknown and rep.total == space.macs(enc)


def test_macs_by_hand():
    stem = 27 * 128 * 32 * 32
    cells = (3 * 128 * 128 * 32 * 32 + (128 * 256 + 2 * 256 * 256) * 16 * 16 + (256 * 512 + 2 * 512 * 512) * 8 * 8)
    assert nb101.macs(TRIVIAL) == stem + cells + 5130


# ----------------------------------------------------------------------------- registry and benchmark

def test_registered(space):
    assert "nb101" in space_names() and isinstance(space, nb101.NB101Space)
    assert isinstance(space.benchmark, NB101Benchmark)
    with pytest.raises(InputError):
        get_space("nb101", dataset="cifar100")


def test_benchmark_items(space, csv_rows):
    bench = space.benchmark
    table = bench.table()
    cells = {space.from_str(_raw(r)) for r in csv_rows}
    assert set(table) == cells and sum(len(e["rows"]) for e in table.values()) == 500
    for e in table.values():
        accs = [float(csv_rows[i]["val_accuracy"]) for i in e["rows"]]
        assert e["accuracy"] == pytest.approx(np.mean(accs))
        assert len({csv_rows[i]["params"] for i in e["rows"]}) == 1  # one network, one count
    assert len({e["hash"] for e in table.values()}) < len(table)  # isomorphic cells kept apart
    items, info = bench.items(None, 0)
    assert len(items) == len(cells) and info["space"] == "nb101"
    assert all(50 < it.accuracy < 100 and it.params_hint == space.params(it.label.split(":", 1)[1])
               for it in items)
    a, _ = bench.items(20, 5)
    b, _ = bench.items(20, 5)
    assert [i.label for i in a] == [i.label for i in b] and len({i.label for i in a}) == 20
    row = csv_rows[0]
    assert bench.accuracy(_raw(row)) == pytest.approx(table[space.from_str(_raw(row))]["accuracy"])
    # a relabelling of a table cell that the table lacks: the accuracy of its isomorphic rows
    m, ops = _arrays(FULL)
    perm = [0, 1, 3, 2, 4, 5, 6]  # swap vertices 2 and 3 (no edge between them, order kept)
    other = nb101.canonical((m[np.ix_(perm, perm)], [ops[p] for p in perm]))
    assert other != FULL and other not in table and nb101.graph_hash(other) == nb101.graph_hash(FULL)
    assert bench.accuracy(other) == pytest.approx(table[FULL]["accuracy"])
    assert bench.accuracy("01;00,input|output") is not None  # 55 rows are this network
    assert bench.accuracy("not a cell") is None


def test_benchmark_batch_is_the_cifar10_protocol_batch(space, tmp_path, monkeypatch):
    monkeypatch.delenv("ONNXSCORE_DATA", raising=False)  # ../shared/data's images, else the shipped ones
    path, desc = space.benchmark.default_batch(tmp_path, 8, 2027)
    x = np.load(path)
    assert x.shape == (8, 3, 32, 32) and x.dtype == np.float32 and "cifar10" in desc.lower()


def test_missing_csv_says_where_to_put_it(space, tmp_path, monkeypatch):
    monkeypatch.setenv("ONNXSCORE_DATA", str(tmp_path))
    with pytest.raises(InputError) as exc:
        space.benchmark.table()
    msg = str(exc.value)
    assert CSV_NAME in msg and str(tmp_path) in msg and "\n" not in msg
