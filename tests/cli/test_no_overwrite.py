"""The commands never overwrite a file without --force nor an input ever, refuse before any work, and
report failures (a foreign store, a full disk, an onnxruntime error) in exactly one stderr line."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnxscore.cli.main import main
from onnxscore.store import ResultStore
from tests.models import ConvNet

FAST = ["-w", "0", "-q", "-b", "8"]


@pytest.fixture()
def model(tmp_path):
    p = tmp_path / "m.onnx"
    onnx.save(ConvNet().onnx(), str(p))
    return p


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str, *needles) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("onnxscore: error: "), err
    assert "Traceback" not in err
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


# ---------------------------------------------------------------- rank

def test_rank_never_writes_over_its_own_model(capsys, tmp_path, model):
    before = model.read_bytes()
    store = tmp_path / "r.sqlite"
    for extra in ([], ["--force"]):
        code, _, err = run(capsys, "rank", model, "--json", model, "--store", store, *FAST, *extra)
        assert code == 2
        one_error_line(err, "is the model", "even with --force")
    assert model.read_bytes() == before
    assert not store.exists()  # refused before any work


def test_rank_csv_needs_force_and_is_checked_before_scoring(capsys, tmp_path, model):
    out, store = tmp_path / "o.csv", tmp_path / "r.sqlite"
    out.write_text("my spreadsheet\n")
    code, _, err = run(capsys, "rank", model, "--csv", out, "--store", store, *FAST)
    assert code == 2
    one_error_line(err, "o.csv already exists", "--force")
    assert out.read_text() == "my spreadsheet\n" and not store.exists()
    code, _, _ = run(capsys, "rank", model, "--csv", out, "--store", store, *FAST, "--force")
    assert code == 0 and out.read_text().startswith("model,epads,")


def test_rank_refuses_the_store_as_an_output(capsys, tmp_path, model):
    store = tmp_path / "r.sqlite"
    assert run(capsys, "rank", model, "--store", store, *FAST)[0] == 0
    before = store.read_bytes()
    code, _, err = run(capsys, "rank", model, "--json", store, "--store", store, *FAST, "--force")
    assert code == 2
    one_error_line(err, "the result store")
    assert store.read_bytes() == before


def test_rank_full_disk_names_the_file(capsys, tmp_path, model):
    code, _, err = run(capsys, "rank", model, "--csv", "/dev/full", "--store", tmp_path / "r.sqlite", *FAST)
    assert code == 2
    one_error_line(err, "no space left on device writing /dev/full")


def test_rank_with_a_foreign_store_is_one_line_and_leaves_it(capsys, tmp_path, model):
    db = tmp_path / "app.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE scores (player TEXT, points INTEGER)")
    con.commit()
    con.close()
    before = db.read_bytes()
    code, _, err = run(capsys, "rank", model, "--store", db, *FAST)
    assert code == 2
    one_error_line(err, "not an onnxscore result store", "tables: scores")
    assert db.read_bytes() == before
    code, _, err = run(capsys, "rank", model, "--store", model, *FAST)  # the model as the store
    assert code == 2
    one_error_line(err, "not an SQLite database")


# ---------------------------------------------------------------- evaluate

@pytest.fixture()
def accuracy_csv(tmp_path):
    rows = ["model,accuracy"]
    for i in range(3):
        p = tmp_path / f"n{i}.onnx"
        onnx.save(ConvNet(seed=i).onnx(), str(p))
        rows.append(f"{p.name},{50 + i}")
    (tmp_path / "acc.csv").write_text("\n".join(rows) + "\n")
    np.save(tmp_path / "batch.npy", np.random.default_rng(0).standard_normal((8, 3, 6, 6)).astype(np.float32))
    return tmp_path / "acc.csv"


def evaluate_args(csv, tmp_path):
    return ["evaluate", csv, "--data", tmp_path / "batch.npy", "-b", "8", "-p", "epads", "-w", "0", "-q",
            "--store", tmp_path / "s.sqlite"]


def test_evaluate_output_needs_force_and_never_names_an_input(capsys, tmp_path, accuracy_csv):
    args = evaluate_args(accuracy_csv, tmp_path)
    out = tmp_path / "r.json"
    out.write_text("keep me")
    code, _, err = run(capsys, *args, "-o", out)
    assert code == 2
    one_error_line(err, "-o", "already exists", "--force")
    assert out.read_text() == "keep me" and not (tmp_path / "s.sqlite").exists()
    for victim, what in ((tmp_path / "n1.onnx", "the model"), (accuracy_csv, "the accuracy CSV"),
                         (tmp_path / "batch.npy", "the --data batch")):
        before = victim.read_bytes()
        code, _, err = run(capsys, *args, "-o", victim, "--force")
        assert code == 2
        one_error_line(err, what, "even with --force")
        assert victim.read_bytes() == before
    code, stdout, _ = run(capsys, *args, "-o", out, "--force", "--json")
    assert code == 0 and json.loads(out.read_text()) == json.loads(stdout)


def test_evaluate_plot_needs_force(capsys, tmp_path, accuracy_csv):
    pytest.importorskip("matplotlib")
    png = tmp_path / "p.png"
    png.write_bytes(b"an older figure")
    code, _, err = run(capsys, *evaluate_args(accuracy_csv, tmp_path), "--plot", png)
    assert code == 2
    one_error_line(err, "--plot", "already exists")
    assert png.read_bytes() == b"an older figure"
    code, _, _ = run(capsys, *evaluate_args(accuracy_csv, tmp_path), "--plot", png, "--force")
    assert code == 0 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".onnxscore-")]


def test_evaluate_with_too_few_models_reports_top10_as_undefined(capsys, tmp_path, accuracy_csv):
    code, stdout, _ = run(capsys, *evaluate_args(accuracy_csv, tmp_path), "--json")
    obj = json.loads(stdout)
    assert code == 0 and obj["n"] == 3
    assert all(r["top10_precision"] is None for r in obj["results"].values())
    assert obj["results"]["epads"]["kendall"] is not None  # the correlations are still defined
    assert any("undefined (null) for 3 models" in n for n in obj["notes"])


# ---------------------------------------------------------------- convert and search

def test_convert_an_onnx_file_says_there_is_nothing_to_convert(capsys, tmp_path, model):
    code, out, err = run(capsys, "convert", model, "-o", tmp_path / "x.onnx")
    assert code == 2 and out == ""
    one_error_line(err, "already ONNX", "nothing to convert")
    assert "?" not in err and not (tmp_path / "x.onnx").exists()


def test_convert_refuses_to_write_over_its_source(capsys, tmp_path):
    src = tmp_path / "net.py"
    src.write_text("def build():\n    raise SystemExit('must not run')\n")
    code, _, err = run(capsys, "convert", f"{src}:build", "-o", src, "--force")
    assert code == 2
    one_error_line(err, "the source model", "even with --force")
    assert "must not run" in src.read_text()


def test_convert_summary_has_no_placeholders():
    from onnxscore.cli.convert import summary

    text = summary(ConvNet().onnx())  # a model without onnxscore's converter metadata
    assert "?" not in text and text.startswith("3 activation sites")


def test_search_refuses_the_store_as_its_output(capsys, tmp_path):
    store = tmp_path / "s.sqlite"
    args = ["search", "--space", "toy", "--proxy", "params", "--budget", "3", "-q", "--store", store]
    ResultStore(store).close()
    before = store.read_bytes()
    code, _, err = run(capsys, *args, "-o", store, "--force")
    assert code == 2
    one_error_line(err, "the result store")
    assert store.read_bytes() == before


def test_search_output_folder_must_exist(capsys, tmp_path):
    code, _, err = run(capsys, "search", "--space", "toy", "--proxy", "params", "--budget", "3", "-q",
                       "--store", tmp_path / "s.sqlite", "-o", tmp_path / "no" / "best.onnx")
    assert code == 2
    one_error_line(err, "does not exist")


# ---------------------------------------------------------------- onnxruntime's own log lines

def _ort_failing_model(path):
    """Passes the ONNX checker, fails inside onnxruntime (a Conv whose kernel_shape contradicts its weight),
    which onnxruntime logs as an `[E:onnxruntime ...]` line of its own before raising."""
    w = numpy_helper.from_array(np.ones((2, 3, 3, 3), np.float32), "w")
    g = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["h"], kernel_shape=[5, 5]),
                           helper.make_node("Relu", ["h"], ["y"])], "bad",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2, 4, 4])], [w])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 10
    onnx.checker.check_model(m)
    onnx.save(m, str(path))


@pytest.mark.parametrize("command", [[], ["rank", "-w", "1", "-q", "--store", "{store}"]])
def test_onnxruntime_log_lines_stay_off_stderr_unless_debug(tmp_path, command):
    """A real process (onnxruntime writes to file descriptor 2, beyond pytest's capture); with rank the
    failure happens in a worker process, which must inherit the setting."""
    bad = tmp_path / "bad.onnx"
    _ort_failing_model(bad)
    env = {k: v for k, v in os.environ.items() if k != "ONNXSCORE_DEBUG"}

    def cli(*extra, store):
        args = [a.replace("{store}", str(tmp_path / store)) for a in command]
        return subprocess.run([sys.executable, "-m", "onnxscore.cli.main", *args, str(bad), "-b", "4", *extra],
                              capture_output=True, text=True, env=env, timeout=300)

    proc = cli(store="a.sqlite")
    assert "[E:onnxruntime" not in proc.stderr
    if command:  # rank reports the failed candidate in its own line and finishes
        assert proc.returncode == 0 and "onnxscore: error: " in proc.stderr and "kernel_shape" in proc.stderr
    else:
        assert proc.returncode == 2
        one_error_line(proc.stderr, "kernel_shape")
    debug = cli("--debug", store="b.sqlite")  # a fresh store: the failure must really happen again
    assert "[E:onnxruntime" in debug.stderr  # the line exists, and --debug shows it
