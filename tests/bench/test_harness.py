"""Smoke tests of the benchmark harness (bench/common.py and the scripts' helpers) on tiny models; no timing asserted."""
from __future__ import annotations

import importlib.util
import json
import sys

import numpy as np
import onnx
import pytest

import onnxscore
from bench import common as C
from onnxscore.spaces import nb201

ARCH = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|"
B = 4


def _load_script(name: str):
    """Import samples/<name>.py (not a package) as a module."""
    path = C.ROOT / "samples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def model():
    return nb201.build_model(ARCH, "cifar10", seed=0)


@pytest.fixture(scope="module")
def batch():
    return np.random.default_rng(0).standard_normal((B, 3, 32, 32)).astype(np.float32)


def test_device_reports_cpu_or_cuda(monkeypatch):
    monkeypatch.setattr(C.runtime, "choose_providers", lambda req=None: ["CPUExecutionProvider"])
    dev = C.device()
    assert dev["label"] == "CPU" and "CPU" in dev["message"]
    monkeypatch.setattr(C.runtime, "choose_providers",
                        lambda req=None: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    dev = C.device()
    assert dev["label"] == "CUDA" and "CUDA" in dev["message"]


def test_machine_info_has_what_the_readme_needs():
    info = C.machine(2, {"label": "CPU"})
    for key in ("date", "cpu", "cores", "onnxruntime", "load_average_start", "threads"):
        assert key in info
    assert len(info["load_average_start"]) == 3
    assert "2 threads" in C.machine_line(info)


def test_batch_stats_baseline_only_rewrites_bn(model):
    base = C.batch_stats_model(model)
    ops = [n.op_type for n in base.graph.node]
    assert "BatchNormalization" not in ops
    assert any(n.op_type == "BatchNormalization" for n in model.graph.node)  # original untouched
    assert [o.name for o in base.graph.output] == [o.name for o in model.graph.output]  # nothing exposed
    assert base.ir_version <= 10


def test_paired_batch_uses_onnxscore_noise(batch):
    from bench import torch_reference as ref

    x2 = C.paired_batch(batch, seed=3, sigma=0.5)
    assert x2.shape == (2 * B, 3, 32, 32)
    assert np.array_equal(x2[:B], batch)
    assert np.allclose(x2[B:] - batch, ref.make_noise(batch.shape, 3, 0.5), atol=1e-6)


def test_plain_inference_runs(model, batch):
    sess = C.session(C.batch_stats_model(model), ["CPUExecutionProvider"], threads=1)
    (logits,) = C.infer(sess, batch)
    assert logits.shape == (B, 10) and np.isfinite(logits).all()


def test_interleaved_rotates_and_counts():
    calls = []
    res = C.interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, repeats=3, warmup=1)
    assert calls == ["a", "b", "a", "b", "b", "a", "a", "b"]  # warm-up, then rotating start
    assert {k: len(v) for k, v in res.items()} == {"a": 3, "b": 3}
    assert all(t >= 0 for v in res.values() for t in v)
    assert C.median([3.0, 1.0, 2.0]) == 2.0


def test_score_phases_matches_scorer(model, batch):
    sc = onnxscore.Scorer(batch_size=B, data=batch, threads=1)
    want = sc.score(model, ["epads", "naswot", "swap"]).scores
    got = C.score_phases(sc, model, ["epads", "naswot", "swap"])
    assert {k: got["scores"][k] for k in want} == want
    ph = got["phases"]
    for key in ("load", "rewrite", "session", "input", "forward_2B", "pack_2B", "forward_B", "pack_B",
                "proxy_epads", "proxy_naswot", "proxy_swap"):
        assert ph[key] >= 0, key
    assert got["sites"] == sum(n.op_type == "Relu" for n in model.graph.node)
    assert sc.clock is None  # the clock is off again: plain scoring times nothing
    only = C.score_phases(sc, model, ["epads"])
    assert "forward_B" not in only["phases"]  # ePADS needs the 2B pass only


def test_overhead_measures_floor_and_agrees(batch):
    """bench/overhead.py on one architecture: every contender timed, floor ratios present, scores agree."""
    import argparse

    from bench import overhead

    sc = onnxscore.Scorer(batch_size=B, data=batch, threads=1)
    a = argparse.Namespace(dataset="cifar10", threads=1, repeats=1, no_raw=True)
    dev = {"providers": ["CPUExecutionProvider"]}
    row = overhead.measure_arch(ARCH, sc, batch, C.paired_batch(batch), dev, a)
    assert set(row["median_s"]) == {"plain_2B", "plain_B", "epads", "all", "floor_2B", "floor_all"}
    assert row["ratio_floor_epads"] > 0 and row["ratio_floor_all"] > 0
    assert row["scores_agree"]
    s = overhead.summarise([row])
    assert s["ratio_floor_epads"] == pytest.approx(round(row["ratio_floor_epads"], 3))
    assert "unreachable" in overhead._floor_note(1.4, 1.3) and "left" in overhead._floor_note(1.1, 1.3)


def test_patched_session_options_apply_and_restore(model, batch):
    import onnxruntime as ort

    with C.patched_session_options(priority_order=True, arena=False):
        so = C.runtime.ort.SessionOptions()
        assert so.execution_order == ort.ExecutionOrder.PRIORITY_BASED
        assert so.enable_cpu_mem_arena is False
        sc = onnxscore.Scorer(batch_size=B, data=batch, threads=1)
        patched = sc.score(model, ["epads"]).scores
    assert C.runtime.ort is ort
    assert sc.score(model, ["epads"]).scores == patched  # same codes, only memory behaviour differs


def test_limit_blas_threads_finds_openblas():
    changed = C.limit_blas_threads(1)
    C.limit_blas_threads(C.DEFAULT_THREADS)
    assert isinstance(changed, list)  # empty only if NumPy/SciPy use another BLAS


def test_run_child_returns_json_and_peak_rss(tmp_path):
    script = tmp_path / "child.py"
    script.write_text("import json; x = bytearray(20 * 2**20); print('noise'); print(json.dumps({'ok': 1}))\n")
    res = C.run_child([str(script)])
    assert res["ok"] == 1
    assert res["ru_maxrss_mb"] >= 20
    bad = tmp_path / "bad.py"
    bad.write_text("raise SystemExit(3)\n")
    with pytest.raises(RuntimeError, match="failed"):
        C.run_child([str(bad)])


def test_save_and_markdown(tmp_path):
    md = C.markdown_table([{"a": 1.23456, "b": "x"}], ["a", "b"], ["A", "B"])
    assert md.splitlines()[0] == "| A | B |" and "1.23" in md
    p = C.save("t", {"v": np.float64(1.5)}, md, tmp_path)
    assert json.loads(p.read_text()) == {"v": 1.5}
    assert (tmp_path / "t.md").read_text().startswith("| A | B |")


def test_scaling_exponent_and_arch():
    from bench import scaling

    assert scaling.exponent([32, 64, 128], [1.0, 4.0, 16.0]) == pytest.approx(2.0)
    assert scaling.exponent([32, 64], [1.0, 2.0]) == pytest.approx(1.0)
    assert nb201.parse_arch(scaling.conv_arch(2)).count("nor_conv_3x3") == 2


def test_memory_child_reports_peak(tmp_path, model):
    from bench import memory

    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    res = memory.child("onnxscore-default", str(path), 2, 1, ["epads"])
    assert res["vmhwm_mb"] > 0 and res["scores"]["epads"] is not None
    assert res["packed_in_graph"] is False  # a tiny model stays under the pack budget


def test_make_resnet50_refuses_to_overwrite(tmp_path, capsys):
    mk = _load_script("make_resnet50")
    out = tmp_path / "r.onnx"
    out.write_bytes(b"keep")
    assert mk.main(["--out", str(out)]) == 2
    assert out.read_bytes() == b"keep"
    assert "--force" in capsys.readouterr().err


def test_make_resnet50_shape(tmp_path):
    mk = _load_script("make_resnet50")
    out = tmp_path / "r.onnx"
    assert mk.main(["--out", str(out), "--size", "32", "--width", "8"]) == 0
    m = onnx.load(str(out))
    assert sum(n.op_type == "Relu" for n in m.graph.node) == 49
    assert sum(n.op_type == "BatchNormalization" for n in m.graph.node) == 53
    assert m.ir_version == 10
    sess = C.session(m, ["CPUExecutionProvider"], threads=1)
    (y,) = C.infer(sess, np.zeros((2, 3, 32, 32), np.float32))
    assert y.shape == (2, 1000)
    full = mk.build.__defaults__  # the defaults are the ResNet-50 shape
    assert full[:2] == (224, 64)
    assert mk.main(["--out", str(out), "--size", "32", "--width", "8", "--force"]) == 0



def test_search_bench_records_from_two_processes_are_merged(tmp_path):
    """bench/search_nb201.py run may run once per dataset in parallel: each finished search is appended
    under a lock to what is on disk now (not to the process's stale copy), and cost maps are merged."""
    from bench import search_nb201 as S

    out, costs = tmp_path / "res.json", tmp_path / "costs.json"

    def rec(ds, seed):
        return {"budget": 10, "dataset": ds, "algo": "random", "proxy": "epads", "seed": seed}

    S._record(out, rec("cifar10", 0), {"machine": "a"}, costs, {"cifar10": {"x": 1.0}})
    S._record(out, rec("ImageNet16-120", 0), {"machine": "b"}, costs, {"ImageNet16-120": {"y": 2.0}})
    S._record(out, rec("cifar10", 0), {}, costs, {"cifar10": {"z": 3.0}})  # a repeat is not duplicated
    res = json.loads(out.read_text())
    assert [(r["dataset"], r["seed"]) for r in res["runs"]] == [("cifar10", 0), ("ImageNet16-120", 0)]
    assert res["meta"]["machine"] == "a"  # the first run's machine line is kept
    assert json.loads(costs.read_text()) == {"cifar10": {"x": 1.0, "z": 3.0}, "ImageNet16-120": {"y": 2.0}}


def test_search_bench_stores_evaluated_archs_as_indices(tmp_path, shared_data):
    """The evaluated architectures of each search are saved as NB201 arch_index values (10x smaller than the
    strings) and read back as the same strings, in order; records in the older string form are converted."""
    from bench import search_nb201 as S

    _, by_index = S._index_maps()
    archs = [by_index[i] for i in (15624, 0, 7, 7, 3000)]
    out = tmp_path / "res.json"
    S._save(out, {"meta": {}, "runs": [{"seed": 0, "archs": archs}]})
    (run,) = S._load(out)["runs"]
    assert "archs" not in run and run["arch_indices"] == "15624 0 7 7 3000"
    assert S._archs(run) == archs
    assert S._archs({"seed": 1}) == []


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))


def test_gradient_bench_times_both_sides_and_agrees(monkeypatch):
    """bench/gradients.py on one small NB201 net: both sides timed, the eleven values agree with PyTorch."""
    pytest.importorskip("torch")
    from bench import gradients
    from onnxscore.spaces import nb201

    monkeypatch.setattr(nb201, "N_CELLS", 1)
    (row,) = gradients.nb201_rows(1, 8, 1)
    for label in ("ten", "ntk_cond", "all"):
        assert row[f"onnxscore_{label}_s"] > 0 and row[f"torch_{label}_s"] > 0 and row[f"speedup_{label}"] > 0
    assert row["runs_ntk_cond"] == 1 + 8  # the shared part once, then one backward run per sample
    rel = {k[4:]: v for k, v in row.items() if k.startswith("rel_")}
    assert len(rel) == 11 and all(v is not None for v in rel.values())
    assert max(v for k, v in rel.items() if k != "zico") < 1e-3, rel  # zico: ~1 % float32 noise (test_nb201_torch)


def test_hybrid_bench_runs_resumes_and_reports(tmp_path):
    """bench/hybrid_nb201.py: a run records the found arch's three test accuracies and its spend, a second
    run skips what is recorded, and the report renders the table (the plot needs matplotlib)."""
    import argparse

    from bench import hybrid_nb201 as H

    out, store = tmp_path / "h.json", str(tmp_path / "s.sqlite")
    args = argparse.Namespace(out=str(out), store=store, proxy="params", budget=60, ks="3", seeds=2,
                              algos="shortlist,random", workers=0)
    H.cmd_run(args)
    runs = json.loads(out.read_text())["runs"]
    assert sorted(runs) == ["random|-|0|3|0", "random|-|0|3|1", "shortlist|params|60|3|0", "shortlist|params|60|3|1"]
    r = runs["shortlist|params|60|3|0"]
    table = nb201.load_accuracies()
    assert r["queries"] == 3 and r["test_cifar10"] == table[r["arch"]]["cifar10"]
    assert r["oracle_accuracy"] == table[r["arch"]]["cifar10_valid_acc"]
    before = out.read_text()
    H.cmd_run(args)  # resumable: nothing new
    assert out.read_text() == before
    md, png = tmp_path / "h.md", tmp_path / "h.png"
    H.cmd_report(argparse.Namespace(out=str(out), dev=str(tmp_path / "none.json"), md=str(md), png=str(png)))
    text = md.read_text()
    assert "## K = 3" in text and "| shortlist | params | 60 |" in text and "| random | - | - |" in text
