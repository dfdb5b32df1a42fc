"""`onnxscore search`: JSON shape, ONNX output and refusal to overwrite, repeats, size limits, user spaces."""
from __future__ import annotations

import json

import onnx
import pytest

from onnxscore.cli.main import main
from onnxscore.graph.params import count_params

FAST = ["--space", "toy", "-b", "8", "--threads", "1", "-q"]


def _objs(out: str) -> list[dict]:
    return [json.loads(line) for line in out.strip().splitlines()]


def test_json_object_per_search_and_the_onnx_file(capsys, tmp_path):
    out = tmp_path / "best.onnx"
    code = main(["search", *FAST, "--algo", "evolution", "--budget", "12", "--population", "5",
                 "--store", str(tmp_path / "s.sqlite"), "-o", str(out), "--json"])
    assert code == 0
    (obj,) = _objs(capsys.readouterr().out)
    for key in ("arch", "score", "params", "macs", "onnx", "evaluated", "seconds", "settings"):
        assert key in obj
    assert obj["onnx"] == str(out) and out.exists()
    assert obj["evaluated"] == 12 and obj["scored"] + obj["cached"] == 12
    assert isinstance(obj["score"], float)
    s = obj["settings"]
    assert (s["algo"], s["proxy"], s["budget"], s["seed"], s["population"]) == ("evolution", "epads", 12, 0, 5)
    assert s["scorer"]["batch_size"] == 8 and "onnxruntime" in s["scorer"]
    assert count_params(onnx.load(out)) == obj["params"]


def test_refuses_to_overwrite_an_existing_file_unless_forced(capsys, tmp_path):
    out = tmp_path / "mine.onnx"
    out.write_bytes(b"user data")
    args = ["search", *FAST, "--proxy", "params", "--budget", "5", "-o", str(out), "--json"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "--force" in err and len(err.strip().splitlines()) == 1
    assert out.read_bytes() == b"user data"
    assert main([*args, "--force"]) == 0
    assert _objs(capsys.readouterr().out)[0]["onnx"] == str(out)
    onnx.checker.check_model(onnx.load(out))


def test_repeat_prints_each_search_then_a_summary(capsys, tmp_path):
    code = main(["search", *FAST, "--algo", "random", "--proxy", "params", "--budget", "6", "--repeat", "3",
                 "--search-seed", "10", "-o", str(tmp_path / "b.onnx"), "--json"])
    assert code == 0
    objs = _objs(capsys.readouterr().out)
    assert len(objs) == 4
    assert [o["settings"]["seed"] for o in objs[:3]] == [10, 11, 12]
    assert [o["onnx"] for o in objs[:3]] == [str(tmp_path / f"b-seed{s}.onnx") for s in (10, 11, 12)]
    summ = objs[3]["summary"]
    assert summ["repeats"] == 3 and summ["seeds"] == [10, 11, 12]
    scores = [o["score"] for o in objs[:3]]
    assert summ["score"]["mean"] == pytest.approx(sum(scores) / 3)


def test_size_limits_are_respected(capsys, tmp_path):
    code = main(["search", *FAST, "--proxy", "params", "--budget", "20", "--max-params", "1.2k", "--no-onnx",
                 "--json"])
    assert code == 0
    (obj,) = _objs(capsys.readouterr().out)
    assert obj["params"] <= 1200 and obj["rejected"] > 0 and obj["onnx"] is None


def test_user_space_module(capsys, tmp_path):
    mod = tmp_path / "myspace.py"
    mod.write_text(
        "from onnxscore.spaces import register_space\n"
        "from onnxscore.spaces.toy import ToySpace\n\n"
        "@register_space('tiny-chain-cli-test')\n"
        "class Tiny(ToySpace):\n"
        "    name = 'tiny-chain-cli-test'\n"
        "    def __init__(self):\n"
        "        super().__init__(depth=3, widths=(2, 4))\n")
    code = main(["search", "--space", "tiny-chain-cli-test", "--space-module", str(mod), "-b", "8", "-q",
                 "--budget", "4", "--store", str(tmp_path / "s.sqlite"), "--no-onnx", "--json"])
    assert code == 0
    (obj,) = _objs(capsys.readouterr().out)
    assert obj["settings"]["space"] == "tiny-chain-cli-test" and len(obj["arch"].split("-")) == 3


def test_bad_options_are_one_line_errors(capsys, tmp_path):
    assert main(["search", *FAST, "--proxy", "nope", "--no-onnx"]) == 2
    assert main(["search", *FAST, "--proxy", "epads,naswot", "--no-onnx"]) == 2
    assert main(["search", *FAST, "--budget", "0", "--no-onnx"]) == 2
    assert main(["search", "--space", "no-such-space", "--no-onnx"]) == 2
    errs = capsys.readouterr().err.strip().splitlines()
    assert len(errs) == 4 and all(e.startswith("onnxscore: error:") for e in errs)


def test_nb201_reports_the_ground_truth_accuracy(capsys, tmp_path, shared_data):
    code = main(["search", "--space", "nb201", "--dataset", "cifar10", "--proxy", "params", "--budget", "30",
                 "--no-onnx", "-q"])
    assert code == 0
    out = capsys.readouterr().out
    assert "test accuracy" in out and "NAS-Bench-201 table" in out


def test_built_in_spaces_are_known_to_worker_processes(capsys, tmp_path):
    """Every built-in space registers at import, so spawned workers know it too."""
    store = tmp_path / "s.sqlite"
    code = main(["search", *FAST, "--workers", "1", "--budget", "3", "--store", str(store), "--no-onnx"])
    assert code == 0, capsys.readouterr().err
    assert "evaluated 3" in capsys.readouterr().out


def test_user_space_module_reaches_spawned_workers(capsys, tmp_path):
    """A --space-module space is imported by the search's worker processes from the same spec."""
    mod = tmp_path / "myspace_w.py"
    mod.write_text(
        "from onnxscore.spaces import register_space\n"
        "from onnxscore.spaces.toy import ToySpace\n\n"
        "@register_space('tiny-chain-cli-workers')\n"
        "class Tiny(ToySpace):\n"
        "    name = 'tiny-chain-cli-workers'\n"
        "    def __init__(self):\n"
        "        super().__init__(depth=3, widths=(2, 4))\n")
    code = main(["search", "--space", "tiny-chain-cli-workers", "--space-module", str(mod), "-b", "8", "-q",
                 "--budget", "4", "--store", str(tmp_path / "s.sqlite"), "--no-onnx", "--json", "--workers", "1"])
    assert code == 0
    (obj,) = _objs(capsys.readouterr().out)
    assert obj["scored"] == 4 and obj["score"] is not None
