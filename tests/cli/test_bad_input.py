"""Every bad input gives one line on stderr, a non-zero exit code and no traceback."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from onnxscore.cli.main import main
from tests.models import ConvNet, make_model


@pytest.fixture()
def good(tmp_path):
    p = tmp_path / "good.onnx"
    onnx.save(ConvNet().onnx(), p)
    return p


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, *needles):
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("onnxscore: error: ")
    assert "Traceback" not in err
    for n in needles:
        assert n in lines[0], lines[0]


def test_missing_file(capsys, tmp_path):
    assert_one_line_error(*run(capsys, tmp_path / "nope.onnx")[::2], "does not exist")


def test_directory(capsys, tmp_path):
    (tmp_path / "d.onnx").mkdir()
    assert_one_line_error(*run(capsys, tmp_path / "d.onnx")[::2], "is a directory")


def test_not_onnx(capsys, tmp_path):
    p = tmp_path / "notes.onnx"
    p.write_text("these are my notes, not a model\n" * 20)
    assert_one_line_error(*run(capsys, p)[::2], "not")


def test_truncated(capsys, tmp_path, good):
    p = tmp_path / "cut.onnx"
    p.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    code, _, err = run(capsys, p)
    assert_one_line_error(code, err, str(p))


def test_checker_failure(capsys, tmp_path):
    g = helper.make_graph([helper.make_node("Relu", ["undefined"], ["y"])], "bad",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 10
    p = tmp_path / "bad.onnx"
    p.write_bytes(m.SerializeToString())
    assert_one_line_error(*run(capsys, p)[::2], "checker")


def test_no_activation_site(capsys, tmp_path):
    m = make_model([helper.make_node("Sigmoid", ["x"], ["y"])],
                   [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2])],
                   [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])], [])
    p = tmp_path / "sig.onnx"
    onnx.save(m, p)
    assert_one_line_error(*run(capsys, p)[::2], "no activation site")


def test_non_float_input(capsys, tmp_path):
    nodes = [helper.make_node("Cast", ["ids"], ["f"], to=TensorProto.FLOAT), helper.make_node("Relu", ["f"], ["y"])]
    m = make_model(nodes, [helper.make_tensor_value_info("ids", TensorProto.INT64, ["N", 4])],
                   [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])], [])
    p = tmp_path / "ids.onnx"
    onnx.save(m, p)
    assert_one_line_error(*run(capsys, p)[::2], "int64")


@pytest.mark.parametrize("array,needle", [
    (np.zeros((200, 3, 7, 7), np.float32), "shape"),
    (np.zeros((200, 3, 6, 6), np.float64), "float32"),
    (np.zeros((4, 3, 6, 6), np.float32), "rows"),
])
def test_bad_data(capsys, tmp_path, good, array, needle):
    p = tmp_path / "data.npy"
    np.save(p, array)
    assert_one_line_error(*run(capsys, good, "--data", p, "-b", 16)[::2], needle)


def test_unknown_proxy(capsys, good):
    assert_one_line_error(*run(capsys, good, "--proxy", "synflow2")[::2], "unknown proxy 'synflow2'")


def test_reg_swap_needs_mu_and_sigma(capsys, good):
    assert_one_line_error(*run(capsys, good, "--proxy", "reg-swap", "--mu", "3")[::2], "--sigma-params")


@pytest.mark.parametrize("provider", ["NoSuchExecutionProvider", "cuda"])
def test_unavailable_provider(capsys, good, provider, monkeypatch):
    from onnxscore import runtime

    monkeypatch.setattr(runtime, "cuda_driver_present", lambda: False)
    assert_one_line_error(*run(capsys, good, "--provider", provider)[::2], "provider" if "No" in provider else "CUDA")


def test_missing_option_value_is_one_line(capsys, good):
    assert_one_line_error(*run(capsys, good, "--batch-size", "many")[::2], "batch-size")


def test_debug_shows_the_traceback(capsys, tmp_path):
    code, _, err = run(capsys, tmp_path / "nope.onnx", "--debug")
    assert code != 0 and "Traceback" in err and err.strip().splitlines()[-1].startswith("onnxscore: error:")


def test_console_entry_point_exit_code_and_stderr(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "onnxscore.cli.main", str(tmp_path / "x.onnx")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "does not exist" in proc.stderr
