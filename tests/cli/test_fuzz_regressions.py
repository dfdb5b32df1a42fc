"""Regression tests for what the fuzz campaign (bench/fuzz.py) found: each a one-line user error."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnx
import pytest

from tests.cli.test_bad_input import assert_one_line_error, run
from tests.models import ConvNet


@pytest.fixture()
def good(tmp_path):
    p = tmp_path / "good.onnx"
    onnx.save(ConvNet().onnx(), p)
    return p


@pytest.mark.parametrize("opts, needle", [
    (["--latency", "--latency-runs", "0"], "--latency-runs"),
    (["--latency", "--latency-batch", "0"], "--latency-batch"),
    (["--max-latency-ms", "nan"], "--max-latency-ms"),
    (["--ray", "256.0.0.1:1"], "cannot reach the Ray cluster"),
    (["--ray", "not-an-address"], "is not host:port"),
])
def test_rank_option_values_are_checked(capsys, good, tmp_path, opts, needle):
    code, _, err = run(capsys, "rank", good, "-b", "4", "-q", "--workers", "0",
                       "--store", tmp_path / "s.sqlite", *opts)
    assert_one_line_error(code, err, needle)


def test_sigma_that_overflows_the_input_type(capsys, good):
    code, _, err = run(capsys, good, "-b", "4", "--sigma", "1e308")
    assert_one_line_error(code, err, "--sigma", "float32")


def test_a_model_path_too_long_for_the_os(capsys, tmp_path):
    code, _, err = run(capsys, tmp_path / ("a" * 300 + ".onnx"))
    assert_one_line_error(code, err, "file name too long")


def test_no_arguments_print_the_help_and_one_error_line(capsys):
    code, out, err = run(capsys)
    assert code == 2 and "Usage:" in out
    assert_one_line_error(code, err, "no model or command given")


def test_stdout_on_a_full_disk(good):
    with open("/dev/full", "w") as full:
        p = subprocess.run([sys.executable, "-m", "onnxscore.cli.main", str(good), "-b", "4", "--json"],
                           stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    assert_one_line_error(p.returncode, p.stderr, "no space left on device")


def test_a_binary_file_as_the_evaluate_csv(capsys, tmp_path):
    csv = tmp_path / "m.csv"
    csv.write_bytes(bytes(range(256)) * 4)
    code, _, err = run(capsys, "evaluate", csv, "--store", tmp_path / "s.sqlite", "-q")
    assert_one_line_error(code, err, "not a readable CSV")


def test_evaluate_exits_non_zero_when_no_model_scored(capsys, good, tmp_path):
    (tmp_path / "m.csv").write_text(f"model,accuracy\n{good},0.5\n{good.with_name('b.onnx')},0.6\n")
    onnx.save(ConvNet(seed=1).onnx(), good.with_name("b.onnx"))
    np.save(tmp_path / "d.npy", np.zeros((8, 3, 8, 8), np.float32))  # the nets take 3x6x6
    code, out, err = run(capsys, "evaluate", tmp_path / "m.csv", "-b", "4", "--workers", "0", "-q",
                         "--store", tmp_path / "s.sqlite", "--data", tmp_path / "d.npy")
    assert code == 2 and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("onnxscore: error: none of the 2 models could be scored")


def test_a_torch_factory_that_raises(capsys, tmp_path, monkeypatch):
    pytest.importorskip("torch")
    (tmp_path / "badnets.py").write_text("def make():\n    raise RuntimeError('the factory fails on purpose')\n")
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "convert", "badnets.py:make", "-o", tmp_path / "o.onnx", "--input-shape", "3,8,8")
    assert_one_line_error(code, err, "raised RuntimeError: the factory fails on purpose")
