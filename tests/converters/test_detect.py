"""Format detection, missing-extra messages, and the promise that onnxscore imports no framework."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from onnxscore.converters import convert, detect_format
from onnxscore.errors import InputError, MissingExtraError, ModelLoadError
from tests.converters.framework_proxies import ROOT

FRAMEWORKS = ("tensorflow", "keras", "tf2onnx", "paddle", "paddle2onnx", "torch", "onnxscript")


def _touch(path, text="x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def test_file_suffixes(tmp_path):
    assert detect_format(_touch(tmp_path / "m.onnx")) == "onnx"
    assert detect_format(_touch(tmp_path / "m.keras")) == "keras"
    assert detect_format(_touch(tmp_path / "m.h5")) == "keras"
    assert detect_format(str(tmp_path / "not_yet.onnx")) == "onnx"  # the loader reports it missing


def test_saved_model_directory(tmp_path):
    _touch(tmp_path / "sm" / "saved_model.pb")
    assert detect_format(str(tmp_path / "sm")) == "tensorflow"


@pytest.mark.parametrize("model_name", ["inference.json", "inference.pdmodel"])
def test_paddle_file_directory_and_prefix(tmp_path, model_name):
    model = _touch(tmp_path / "pd" / model_name)
    _touch(tmp_path / "pd" / "inference.pdiparams")
    assert detect_format(model) == "paddle"
    assert detect_format(str(tmp_path / "pd")) == "paddle"
    assert detect_format(str(tmp_path / "pd" / "inference")) == "paddle"


def test_json_without_params_is_not_paddle(tmp_path):
    with pytest.raises(InputError):
        detect_format(_touch(tmp_path / "config.json"))


@pytest.mark.parametrize("spec", ["mynets.resnet:make_resnet", "models:Net", "nets/zoo.py:build"])
def test_torch_factory_spec(spec):
    assert detect_format(spec) == "torch"


@pytest.mark.parametrize("bad", ["missing_file.pt", "C:/models/net", "a b:c"])
def test_unknown_sources_get_a_one_line_fix(bad):
    with pytest.raises(InputError) as err:
        detect_format(bad)
    assert "\n" not in str(err.value) and "'" + bad + "'" in str(err.value)


def test_directory_with_onnx_inside_names_the_fix(tmp_path):
    _touch(tmp_path / "d" / "model.onnx")
    with pytest.raises(InputError, match="pass the .onnx file inside it"):
        detect_format(str(tmp_path / "d"))


def test_existing_file_with_colon_is_not_a_spec(tmp_path):
    odd = _touch(tmp_path / "a:b")
    with pytest.raises(InputError, match="cannot tell the format"):
        detect_format(odd)


def test_missing_framework_model_file_fails_before_importing_it(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        convert(str(tmp_path / "gone.keras"))


def test_unknown_format_and_object():
    with pytest.raises(InputError, match="unknown format"):
        convert("m.onnx", fmt="caffe")
    with pytest.raises(InputError, match="cannot convert a dict"):
        convert({})


@pytest.mark.parametrize("extra,blocked,make_src", [
    ("tensorflow", "tensorflow", lambda tmp: _touch(tmp / "m.keras")),
    ("torch", "torch", lambda tmp: "mynets:make"),
    ("paddle", "paddle2onnx", lambda tmp: (_touch(tmp / "inference.pdiparams"), _touch(tmp / "inference.json"))[1]),
])
def test_missing_extra_names_the_pip_command(monkeypatch, tmp_path, extra, blocked, make_src):
    monkeypatch.setitem(sys.modules, blocked, None)  # makes `import <blocked>` fail like a missing package
    with pytest.raises(MissingExtraError) as err:
        convert(make_src(tmp_path), input_shape="3,8,8")
    msg = str(err.value)
    assert f'pip install ".[{extra}]"' in msg and "\n" not in msg
    from onnxscore.errors import extra_requirements
    assert all(f'"{r}"' in msg for r in extra_requirements(extra)) and extra_requirements(extra)


def test_importing_onnxscore_and_help_import_no_framework():
    code = textwrap.dedent(f"""
        import json, sys
        import onnxscore, onnxscore.converters, onnxscore.converters.detect, onnxscore.loaders
        from onnxscore.cli.main import main
        assert main(["--help"]) == 0
        assert main(["convert", "--help"]) == 0
        print(json.dumps([m for m in {list(FRAMEWORKS)!r} if m in sys.modules]))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "convert" in proc.stdout  # the subcommand is registered
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []
