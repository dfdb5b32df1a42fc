"""Isolation: a model that crashes native code or never ends costs only itself (rank's pool, rank in
process, `score`), Ctrl-C ends a run with one line, and the time limit is recorded as the reason."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnxscore.cli.main import main
from onnxscore.errors import WorkerError
from onnxscore.engine import RankSettings, _default_score, file_candidates, rank
from tests.models import ConvNet
from tests.test_rank import write_nets

ROOT = Path(__file__).resolve().parents[1]
SCORER = {"batch_size": 16}
LOG_ENV = "ONNXSCORE_TEST_SCORE_LOG"  # read by hooked_score in the spawned workers (they inherit it)


# ---------------------------------------------------------------- models and a scoring hook

def hooked_score(model, proxies, scorer_kwargs):
    """A score_fn for the pool tests (module-level, so spawned workers import it): logs each call to
    $ONNXSCORE_TEST_SCORE_LOG, then kills its own process with SIGSEGV for a model whose file name contains
    'crash', sleeps forever for 'hang', and scores every other model normally."""
    name = Path(str(getattr(model, "label", ""))).name
    with open(os.environ[LOG_ENV], "a", encoding="utf-8") as f:
        f.write(name + "\n")
    if "crash" in name:
        os.kill(os.getpid(), signal.SIGSEGV)
    if "hang" in name:
        time.sleep(3600)
    return _default_score(model, proxies, scorer_kwargs, 1)


def gathernd_crasher() -> onnx.ModelProto:
    """Checker-valid GatherND with batch_dims=-2: onnx's shape inference dereferences out of range (SIGSEGV)."""
    g = helper.make_graph(
        [helper.make_node("GatherND", ["d", "i"], ["y"], batch_dims=-2), helper.make_node("Relu", ["y"], ["z"])],
        "crash", [helper.make_tensor_value_info("d", TensorProto.FLOAT, ["N", 3, 4])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["a", "b"])],
        [numpy_helper.from_array(np.zeros((2, 3, 1), np.int64), "i")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 10
    onnx.checker.check_model(m)
    return m


def endless_loop() -> onnx.ModelProto:
    """x -> Loop (10^15 iterations of v + 0) -> Relu: onnxruntime runs it 'forever'."""
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]), helper.make_node("Add", ["v_in", "zero"], ["v_out"])],
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_in", TensorProto.FLOAT, None)],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_out", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.zeros((), np.float32), "zero")])
    g = helper.make_graph(
        [helper.make_node("Loop", ["M", "cond", "x"], ["y"], body=body), helper.make_node("Relu", ["y"], ["r"])],
        "hang", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("r", TensorProto.FLOAT, ["N", 4])],
        [numpy_helper.from_array(np.array(10**15, np.int64), "M"), numpy_helper.from_array(np.array(True), "cond")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 10
    onnx.checker.check_model(m)
    return m


@pytest.fixture(scope="module")
def crasher(tmp_path_factory) -> Path:
    """The GatherND model on disk; skips unless scoring it in one process really dies with SIGSEGV
    (a newer onnx, or a check before shape inference, would end the crash)."""
    p = tmp_path_factory.mktemp("native") / "crash_gathernd.onnx"
    onnx.save(gathernd_crasher(), p)
    probe = subprocess.run([sys.executable, "-m", "onnxscore.cli.main", "score", str(p), "-b", "8"],
                           env={**os.environ, "ONNXSCORE_NO_ISOLATION": "1"}, capture_output=True, cwd=ROOT)
    if probe.returncode != -signal.SIGSEGV:
        pytest.skip(f"scoring GatherND with negative batch_dims no longer crashes (onnx {onnx.__version__}, "
                    f"exit {probe.returncode})")
    return p


@pytest.fixture()
def score_log(tmp_path, monkeypatch) -> Path:
    log = tmp_path / "calls.log"
    log.write_text("")
    monkeypatch.setenv(LOG_ENV, str(log))
    return log


def _calls(log: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    for name in log.read_text().split():
        out[name] = out.get(name, 0) + 1
    return out


def _six_with(tmp_path: Path, bad: str) -> list[Path]:
    paths = write_nets(tmp_path / "m", [3, 4, 5, 6, 7])
    p = tmp_path / "m" / f"{bad}.onnx"
    p.write_bytes(ConvNet(seed=9).onnx().SerializeToString())
    return paths + [p]


# ---------------------------------------------------------------- rank's pool

def test_a_crash_is_charged_to_its_model_alone_and_retry_failed_reruns_only_it(tmp_path, score_log):
    _six_with(tmp_path, "crash")
    cands = file_candidates([tmp_path / "m"])
    store = tmp_path / "r.sqlite"

    def settings():
        return RankSettings(proxies=("epads",), scorer=SCORER, score_fn=hooked_score)

    res = rank(cands, settings(), store=store, workers=2, progress=False, timeout_s=60)
    by = {Path(r["model"]).name: r for r in res.rows}
    assert by["crash.onnx"]["status"] == "error"
    assert "crashed in native code (SIGSEGV) while scoring this model" in by["crash.onnx"]["error"]
    assert [by[f"net{w}.onnx"]["error"] for w in (3, 4, 5, 6, 7)] == [None] * 5
    assert [by[f"net{w}.onnx"]["status"] for w in (3, 4, 5, 6, 7)] == ["ok"] * 5
    calls = _calls(score_log)
    assert calls.pop("crash.onnx") == 2  # once more in a fresh worker, then recorded
    assert calls == {f"net{w}.onnx": 1 for w in (3, 4, 5, 6, 7)}  # no innocent model re-run or charged

    score_log.write_text("")
    again = rank(cands, settings(), store=store, workers=2, progress=False, timeout_s=60, retry_failed=True)
    assert again.scored == 1 and again.cached == 5 and again.failed == 1
    assert set(_calls(score_log)) == {"crash.onnx"}
    score_log.write_text("")
    plain = rank(cands, settings(), store=store, workers=2, progress=False, timeout_s=60)
    assert plain.scored == 0 and _calls(score_log) == {}  # failures are not retried without --retry-failed


def test_a_hanging_model_is_stopped_at_the_limit_and_recorded_with_it(tmp_path, score_log):
    _six_with(tmp_path, "hang")
    t0 = time.monotonic()
    res = rank(file_candidates([tmp_path / "m"]), RankSettings(proxies=("epads",), scorer=SCORER,
                                                                score_fn=hooked_score),
               store=tmp_path / "r.sqlite", workers=2, progress=False, timeout_s=2)
    elapsed = time.monotonic() - t0
    by = {Path(r["model"]).name: r for r in res.rows}
    assert by["hang.onnx"]["status"] == "error"
    assert by["hang.onnx"]["error"] == "epads: exceeded the per-model time limit of 2 s (--timeout)"
    assert [by[f"net{w}.onnx"]["status"] for w in (3, 4, 5, 6, 7)] == ["ok"] * 5
    assert 2 <= elapsed < 25, elapsed  # the limit plus worker start-up, not forever
    with sqlite3.connect(tmp_path / "r.sqlite") as con:
        errors = [e for (e,) in con.execute("SELECT error FROM scores WHERE error IS NOT NULL")]
    assert errors == ["exceeded the per-model time limit of 2 s (--timeout)"]  # the reason is in the store


def test_in_process_limit_stops_an_endless_onnxruntime_run(tmp_path):
    write_nets(tmp_path / "m", [3, 4])
    onnx.save(endless_loop(), tmp_path / "m" / "hang.onnx")
    t0 = time.monotonic()
    res = rank(file_candidates([tmp_path / "m"]), RankSettings(proxies=("epads",), scorer=SCORER),
               store=tmp_path / "r.sqlite", workers=0, progress=False, timeout_s=1)
    by = {Path(r["model"]).name: r for r in res.rows}
    assert by["hang.onnx"]["error"] == "epads: exceeded the per-model time limit of 1 s (--timeout)"
    assert by["net3.onnx"]["status"] == by["net4.onnx"]["status"] == "ok"
    assert time.monotonic() - t0 < 15


def test_a_job_workers_cannot_receive_is_one_error(tmp_path):
    write_nets(tmp_path / "m", [3, 4])
    with pytest.raises(WorkerError, match="cannot send the job to worker processes"):
        rank(file_candidates([tmp_path / "m"]),
             RankSettings(proxies=("epads",), scorer=SCORER, score_fn=lambda m, p, k: {}),
             store=tmp_path / "r.sqlite", workers=2, progress=False)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.skipif(sys.platform == "win32", reason="process groups and SIGINT")
def test_ctrl_c_prints_one_line_and_no_worker_traceback(tmp_path):
    write_nets(tmp_path / "m", [3])
    onnx.save(endless_loop(), tmp_path / "m" / "hang.onnx")
    store = tmp_path / "r.sqlite"
    cmd = [sys.executable, "-m", "onnxscore.cli.main", "rank", str(tmp_path / "m"), "--workers", "2",
           "--store", str(store), "-b", "8", "-q"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        done = 0
        while done < 1 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
            if store.exists():
                with sqlite3.connect(store, timeout=5) as con:
                    try:
                        done = con.execute("SELECT COUNT(*) FROM scores").fetchone()[0]
                    except sqlite3.OperationalError:
                        pass
        assert done == 1, "the good model was not scored in time"
        time.sleep(0.5)  # one worker now idles, the other runs the endless model
        os.killpg(proc.pid, signal.SIGINT)  # what the terminal does on Ctrl-C: the whole foreground group
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 130, err
        assert "Traceback" not in err, err
        assert err.count("interrupted") == 1, err
        assert err.strip().splitlines() == [f"onnxscore: interrupted; finished results are in {store}, "
                                             "rerun to resume"]
        deadline = time.monotonic() + 10
        while _group_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _group_alive(proc.pid), "a worker outlived the interrupted run"
    finally:
        if _group_alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)


# ---------------------------------------------------------------- score

def _good_pair(tmp_path) -> list[str]:
    paths = []
    for seed in (0, 1):
        p = tmp_path / f"nobn{seed}.onnx"  # no BatchNorm: each prints the same "folded" warning
        onnx.save(ConvNet(seed=seed, bn=False).onnx(), p)
        paths.append(str(p))
    return paths


def test_score_goes_on_after_a_native_crash_and_fails_the_exit_code(tmp_path, capfd, crasher, monkeypatch):
    capsys = capfd  # file-descriptor level: what the child process writes is checked too
    a, c = _good_pair(tmp_path)
    for as_json in ([], ["--json"]):
        code = main([a, str(crasher), c, "-b", "8", *as_json])
        out, err = capsys.readouterr()
        assert code == 2
        errors = [line for line in err.splitlines() if "error" in line]
        assert errors == [f"onnxscore: error: {crasher}: the scoring process crashed in native code (SIGSEGV); "
                          "onnx or onnxruntime cannot handle this model (simplify it, or report it with the file)"]
        assert err.count("BN was probably folded") == 1  # warnings once per run, across the fresh process
        assert "Traceback" not in err and "Fatal Python error" not in err
        monkeypatch.setenv("ONNXSCORE_NO_ISOLATION", "1")
        assert main([a, c, "-b", "8", *as_json]) == 0
        assert capsys.readouterr().out == out  # the good models print exactly as in one process
        monkeypatch.delenv("ONNXSCORE_NO_ISOLATION")
        if as_json:
            assert [json.loads(line)["model"] for line in out.splitlines()] == [a, c]
        else:
            assert out.splitlines()[0] == a and c in out.splitlines()


def test_score_stops_a_model_over_the_time_limit(tmp_path, capsys):
    a, c = _good_pair(tmp_path)
    hang = tmp_path / "hang.onnx"
    onnx.save(endless_loop(), hang)
    t0 = time.monotonic()
    code = main([a, str(hang), c, "-b", "8", "--json", "--timeout", "1"])
    out, err = capsys.readouterr()
    assert code == 2 and time.monotonic() - t0 < 20
    assert [json.loads(line)["model"] for line in out.splitlines()] == [a, c]
    assert f"onnxscore: error: {hang}: exceeded the per-model time limit of 1 s (--timeout)" in err.splitlines()


def test_score_reports_a_bad_file_and_scores_the_rest(tmp_path, capsys):
    a, c = _good_pair(tmp_path)
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    assert main([a, str(bad), c, "-b", "8", "--json"]) == 2
    out, err = capsys.readouterr()
    assert [json.loads(line)["model"] for line in out.splitlines()] == [a, c]
    errors = [line for line in err.splitlines() if line.startswith("onnxscore: error:")]
    assert len(errors) == 1 and str(bad) in errors[0] and "not a readable ONNX model" in errors[0]


def test_score_setting_errors_are_one_line_for_the_run(tmp_path, capsys):
    a, c = _good_pair(tmp_path)
    assert main([a, c, "-p", "reg-swap"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.strip().splitlines() == ["onnxscore: error: reg-swap needs --mu and --sigma-params (target size "
                                        "in thousands of parameters)"]


def test_ray_charges_a_dead_or_overdue_task_alone(tmp_path, score_log, monkeypatch):
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install \"onnxscore[ray]\")")
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    write_nets(tmp_path / "m", [3, 4])
    for seed, bad in enumerate(("crash", "hang")):
        onnx.save(ConvNet(seed=seed).onnx(), tmp_path / "m" / f"{bad}.onnx")
    res = rank(file_candidates([tmp_path / "m"]), RankSettings(proxies=("epads",), scorer=SCORER,
                                                                score_fn=hooked_score),
               store=tmp_path / "r.sqlite", workers=2, ray_address="local", progress=False,
               timeout_s=30)  # counted from submission: it must cover a new Ray worker's start-up (the
    # crash's retry) on a loaded host; 10 s charged the good nets with it while another job held the cores
    assert not ray.is_initialized()
    by = {Path(r["model"]).name: r for r in res.rows}
    assert by["net3.onnx"]["status"] == by["net4.onnx"]["status"] == "ok"
    assert "worker process died while scoring this model" in by["crash.onnx"]["error"]
    assert by["hang.onnx"]["error"] == "epads: exceeded the per-model time limit of 30 s (--timeout)"
    calls = _calls(score_log)
    assert calls["net3.onnx"] == calls["net4.onnx"] == 1 and calls["crash.onnx"] == 2
