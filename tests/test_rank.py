"""The ranking engine: failures recorded, cache hits, budgets, Pareto, CLI files, pool, resume after kill -9."""
from __future__ import annotations

import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnxscore.edge.pareto import Budget
from onnxscore.engine import RankSettings, file_candidates, rank, space_candidates
from onnxscore.store import ResultStore

ROOT = Path(__file__).resolve().parents[1]
SCORER = {"batch_size": 16}


def tiny_net(width: int, seed: int = 0, relu: bool = True):
    """x[N,3,8,8] -> Conv 3x3 (3->width, pad 1, no bias) -> Relu -> GAP -> Flatten -> Gemm(width->10, bias)."""
    rng = np.random.default_rng(seed + width)
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1])]
    nodes += [helper.make_node("Relu", ["c"], ["r"])] if relu else [helper.make_node("Identity", ["c"], ["r"])]
    nodes += [helper.make_node("GlobalAveragePool", ["r"], ["g"]), helper.make_node("Flatten", ["g"], ["f"]),
              helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], transB=1)]
    inits = [numpy_helper.from_array(rng.standard_normal((width, 3, 3, 3)).astype(np.float32), "w"),
             numpy_helper.from_array(rng.standard_normal((10, width)).astype(np.float32), "fw"),
             numpy_helper.from_array(rng.standard_normal(10).astype(np.float32), "fb")]
    g = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 10
    return m


def hand_params(w: int) -> int:
    return 27 * w + 10 * w + 10


def hand_macs(w: int) -> int:
    return 27 * w * 8 * 8 + 10 * w + 10


def write_nets(folder: Path, widths, sub: str | None = None) -> list[Path]:
    d = folder / sub if sub else folder
    d.mkdir(parents=True, exist_ok=True)
    out = []
    for w in widths:
        p = d / f"net{w}.onnx"
        p.write_bytes(tiny_net(w).SerializeToString())
        out.append(p)
    return out


class Counting:
    """A scoring function recording which proxies it was asked for; score = conv width per proxy."""

    def __init__(self):
        self.calls: list[tuple] = []

    def __call__(self, model, proxies, scorer_kwargs):
        proto = getattr(model, "proto", model)
        width = next(t.dims[0] for t in proto.graph.initializer if t.name == "w")
        self.calls.append(tuple(proxies))
        score = {4: 1.0, 8: 3.0, 16: 2.0}.get(width, float(width))
        return {"scores": {p: score for p in proxies}, "errors": {}}


def test_corrupt_and_siteless_candidates_are_recorded_and_the_run_goes_on(tmp_path):
    models = tmp_path / "models"
    write_nets(models, [4], sub="a")
    write_nets(models, [8], sub="b/c")  # found recursively
    (models / "broken.onnx").write_bytes(b"this is not a protobuf \x00\xff")
    (models / "nosite.onnx").write_bytes(tiny_net(6, relu=False).SerializeToString())
    (models / "notes.txt").write_text("ignored")
    cands = file_candidates([models])
    assert len(cands) == 4
    res = rank(cands, RankSettings(proxies=("epads",), scorer=SCORER), store=tmp_path / "r.sqlite",
               workers=0, progress=False)
    by = {Path(r["model"]).name: r for r in res.rows}
    assert by["net4.onnx"]["status"] == by["net8.onnx"]["status"] == "ok"
    assert by["net4.onnx"]["epads"] is not None and by["net4.onnx"]["epads_rank"] in (1, 2)
    assert by["broken.onnx"]["status"] == "error" and "ONNX" in by["broken.onnx"]["error"]
    assert by["nosite.onnx"]["status"] == "error" and "activation site" in by["nosite.onnx"]["error"]
    assert by["net8.onnx"]["params"] == hand_params(8) and by["net8.onnx"]["macs"] == hand_macs(8)
    assert res.failed == 2
    with ResultStore(tmp_path / "r.sqlite") as st:
        rows = st.rows()
        assert len(rows) == 4 and sorted(r["status"] for r in rows) == ["error", "error", "ok", "ok"]


def fc_net(seed: int = 0):
    """x[N,16] -> Gemm -> Relu: ePADS is defined, SWAP is not (it needs 4-D feature maps)."""
    rng = np.random.default_rng(seed)
    g = helper.make_graph([helper.make_node("Gemm", ["x", "w"], ["h"], transB=1), helper.make_node("Relu", ["h"], ["y"])],
                          "fc", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 16])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 8])],
                          [numpy_helper.from_array(rng.standard_normal((8, 16)).astype(np.float32), "w")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 10
    return m


def test_progress_counts_only_candidates_without_any_score_as_failed(tmp_path, capsys):
    """A model scored by some proxies but not others is 'partial' in the progress line, not 'failed'."""
    models = tmp_path / "models"
    write_nets(models, [4])
    (models / "fc.onnx").write_bytes(fc_net().SerializeToString())
    (models / "nosite.onnx").write_bytes(tiny_net(6, relu=False).SerializeToString())
    res = rank(file_candidates([models]), RankSettings(proxies=("epads", "swap"), scorer=SCORER),
               store=tmp_path / "r.sqlite", workers=0, progress=True)
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert "3/3" in last and "failed 1" in last and "partial 1" in last, last
    assert res.failed == 1 and sorted(r["status"] for r in res.rows) == ["error", "ok", "partial"]


def test_cache_hits_skip_scoring(tmp_path):
    write_nets(tmp_path / "m", [4, 8, 16])
    cands = file_candidates([tmp_path / "m"])
    store = tmp_path / "r.sqlite"
    fn = Counting()
    first = rank(cands, RankSettings(proxies=("epads",), scorer=SCORER, score_fn=fn), store=store, workers=0,
                 progress=False)
    assert len(fn.calls) == 3 and first.scored == 3 and first.cached == 0
    fn.calls.clear()
    again = rank(cands, RankSettings(proxies=("epads",), scorer=SCORER, score_fn=fn), store=store, workers=0,
                 progress=False)
    assert fn.calls == [] and again.scored == 0 and again.cached == 3
    assert [r["epads"] for r in again.rows] == [r["epads"] for r in first.rows]
    # a new proxy: only that one is computed
    rank(cands, RankSettings(proxies=("epads", "naswot"), scorer=SCORER, score_fn=fn), store=store, workers=0,
         progress=False)
    assert fn.calls == [("naswot",)] * 3
    fn.calls.clear()
    # a setting that changes the score is part of the key: everything is scored again
    rank(cands, RankSettings(proxies=("epads",), scorer={**SCORER, "seed": 1}, score_fn=fn), store=store,
         workers=0, progress=False)
    assert len(fn.calls) == 3


def test_duplicate_content_is_scored_once(tmp_path):
    a = write_nets(tmp_path / "a", [4])[0]
    b = tmp_path / "b" / "copy.onnx"
    b.parent.mkdir()
    b.write_bytes(a.read_bytes())
    fn = Counting()
    res = rank(file_candidates([a, b]), RankSettings(score_fn=fn, scorer=SCORER), store=tmp_path / "r.sqlite",
               workers=0, progress=False)
    assert len(fn.calls) == 1 and len(res.rows) == 2
    assert res.rows[0]["epads"] == res.rows[1]["epads"] and res.rows[0]["epads_rank"] == res.rows[1]["epads_rank"] == 1


def test_budgets_filter_before_scoring(tmp_path):
    write_nets(tmp_path / "m", [4, 8, 16])
    cands = file_candidates([tmp_path / "m"])
    store = tmp_path / "r.sqlite"
    fn = Counting()
    limit = (hand_macs(8) + hand_macs(16)) // 2
    res = rank(cands, RankSettings(score_fn=fn, scorer=SCORER, budget=Budget(max_macs=limit)), store=store,
               workers=0, progress=False)
    by = {Path(r["model"]).stem: r for r in res.rows}
    assert len(fn.calls) == 2  # net16 was never scored
    assert by["net16"]["status"] == "filtered" and "macs" in by["net16"]["error"]
    assert by["net16"]["epads"] is None and by["net16"]["macs"] == hand_macs(16)
    assert res.filtered == 1
    # a params budget, decided from the metrics cached by the first run: nothing is scored
    fn.calls.clear()
    res = rank(cands, RankSettings(score_fn=fn, scorer=SCORER, budget=Budget(max_params=hand_params(4))),
               store=store, workers=0, progress=False)
    assert fn.calls == []
    assert [r["status"] for r in res.rows].count("filtered") == 2
    # no budget: only the candidate filtered earlier is scored now
    res = rank(cands, RankSettings(score_fn=fn, scorer=SCORER), store=store, workers=0, progress=False)
    assert len(fn.calls) == 1 and all(r["status"] == "ok" for r in res.rows)


def test_pareto_front_of_ranked_rows(tmp_path):
    write_nets(tmp_path / "m", [4, 8, 16])
    res = rank(file_candidates([tmp_path / "m"]), RankSettings(score_fn=Counting(), scorer=SCORER),
               store=tmp_path / "r.sqlite", workers=0, progress=False)
    # scores 1.0 @ macs(4), 3.0 @ macs(8), 2.0 @ macs(16): net16 is dominated by net8
    cost, front = res.pareto()
    assert cost == "macs"
    assert [Path(r["model"]).stem for r in front] == ["net4", "net8"]
    assert [r["epads_rank"] for r in res.rows] == [1, 2, 3]
    assert [Path(r["model"]).stem for r in res.rows] == ["net8", "net16", "net4"]


def test_cli_table_csv_json(tmp_path, capsys):
    from onnxscore.cli.main import main

    write_nets(tmp_path / "m", [4, 8])
    (tmp_path / "m" / "bad.onnx").write_bytes(b"garbage")
    out_csv, out_json = tmp_path / "o.csv", tmp_path / "o.json"
    args = ["rank", str(tmp_path / "m"), "--workers", "0", "--batch-size", "16", "--proxy", "epads,naswot",
            "--store", str(tmp_path / "r.sqlite"), "--csv", str(out_csv), "--json", str(out_json), "-q",
            "--top", "1", "--latency", "--latency-runs", "2", "--latency-warmup", "1", "--pareto"]
    assert main(args) == 0
    out = capsys.readouterr()
    table = out.out.split("\n\nPareto front")[0].strip().splitlines()
    assert table[0].split()[:4] == ["#", "model", "epads", "rank"] and len(table) == 2  # header + top 1
    assert "Pareto front" in out.out and "bad.onnx" in out.err
    with open(out_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["model", "epads", "naswot", "params", "macs", "latency_ms", "status", "error"]
    assert len(rows) == 3 and sorted(r["status"] for r in rows) == ["error", "ok", "ok"]
    data = json.loads(out_json.read_text())
    assert [list(d) for d in data] == [list(rows[0])] * 3
    ok = [d for d in data if d["status"] == "ok"]
    assert all(d["latency_ms"] > 0 and d["epads"] is not None for d in ok)
    assert {d["params"] for d in ok} == {hand_params(4), hand_params(8)}


def test_cli_usage_errors(tmp_path, capsys):
    from onnxscore.cli.main import main

    assert main(["rank", "--store", str(tmp_path / "r.sqlite")]) == 2
    assert "nothing to rank" in capsys.readouterr().err
    assert main(["rank", str(tmp_path / "absent.onnx"), "--store", str(tmp_path / "r.sqlite")]) == 2


def test_space_candidates_are_distinct_and_stable():
    pytest.importorskip("onnxscore.spaces.nb201")
    a = space_candidates("nb201", 5, seed=3, dataset="cifar10")
    b = space_candidates("nb201", 5, seed=3, dataset="cifar10")
    c = space_candidates("nb201", 5, seed=3, dataset="cifar100")
    assert [x.key for x in a] == [x.key for x in b] and len({x.key for x in a}) == 5
    assert all(x.name.startswith("nb201:|") for x in a)
    assert {x.key for x in a}.isdisjoint({x.key for x in c})  # builder settings are part of the hash


def test_worker_pool_matches_in_process(tmp_path):
    write_nets(tmp_path / "m", [4, 8, 16])
    cands = file_candidates([tmp_path / "m"])
    s = RankSettings(proxies=("epads", "naswot"), scorer=SCORER)
    inline = rank(cands, s, store=tmp_path / "a.sqlite", workers=0, progress=False)
    pooled = rank(cands, RankSettings(proxies=("epads", "naswot"), scorer=SCORER), store=tmp_path / "b.sqlite",
                  workers=2, progress=False)
    assert pooled.scored == 3
    for p in ("epads", "naswot"):
        assert [r[p] for r in pooled.rows] == pytest.approx([r[p] for r in inline.rows], rel=1e-9)


_SLOW = """
import time
from onnxscore.engine import _default_score

def score(model, proxies, scorer_kwargs):
    time.sleep(0.3)
    return _default_score(model, proxies, scorer_kwargs, 1)
"""

_RUNNER = """
import json, sys
from onnxscore.engine import RankSettings, file_candidates, rank
import slowscore

if __name__ == "__main__":
    res = rank(file_candidates([sys.argv[1]]),
               RankSettings(proxies=("epads",), scorer={"batch_size": 16}, score_fn=slowscore.score),
               store=sys.argv[2], workers=1, progress=False)
    print(json.dumps({"scored": res.scored, "cached": res.cached, "statuses": [r["status"] for r in res.rows]}))
"""


def _store_count(path: Path) -> int:
    if not path.exists():
        return 0
    try:
        con = sqlite3.connect(path, timeout=5)
        try:
            return con.execute("SELECT COUNT(*) FROM scores").fetchone()[0]
        finally:
            con.close()
    except sqlite3.OperationalError:  # schema not created yet
        return 0


def _group_alive(pgid: int) -> list[int]:
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if os.getpgid(int(d.name)) == pgid:
                    pids.append(int(d.name))
            except (ProcessLookupError, PermissionError):
                pass
    return pids


@pytest.mark.skipif(sys.platform == "win32", reason="uses SIGKILL and /proc")
def test_resume_after_kill_9(tmp_path):
    n = 10
    write_nets(tmp_path / "m", range(2, 2 + n))
    (tmp_path / "slowscore.py").write_text(textwrap.dedent(_SLOW))
    (tmp_path / "runner.py").write_text(textwrap.dedent(_RUNNER))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT), os.environ.get("PYTHONPATH", "")])}
    store = tmp_path / "r.sqlite"
    cmd = [sys.executable, str(tmp_path / "runner.py"), str(tmp_path / "m"), str(store)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while _store_count(store) < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)  # the parent only: its worker must notice and exit
        proc.wait(timeout=10)
        done_before = _store_count(store)
        assert 2 <= done_before < n, "the run was not killed mid-way"
        deadline = time.monotonic() + 10
        while _group_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _group_alive(proc.pid) == [], "an orphaned worker outlived its killed parent"
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert rerun.returncode == 0, rerun.stderr
    summary = json.loads(rerun.stdout.strip().splitlines()[-1])
    assert summary["cached"] == done_before and summary["scored"] == n - done_before
    assert summary["statuses"] == ["ok"] * n
    con = sqlite3.connect(store)
    rows = con.execute("SELECT content_hash, proxy, COUNT(*) FROM scores GROUP BY content_hash, proxy").fetchall()
    con.close()
    assert len(rows) == n and all(r[2] == 1 for r in rows)  # every candidate exactly once


def test_two_in_memory_batches_get_different_store_keys():
    import numpy as np

    a = RankSettings(scorer={"data": np.zeros((4, 3), np.float32)}).score_key()
    b = RankSettings(scorer={"data": np.ones((4, 3), np.float32)}).score_key()
    assert a != b
