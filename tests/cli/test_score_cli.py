"""`onnxscore MODEL` and `onnxscore score MODEL...`: output, JSON format, warnings, listing."""
from __future__ import annotations

import json

import onnx
import pytest

from onnxscore.cli.main import main
from tests.models import ConvNet


@pytest.fixture()
def models(tmp_path):
    paths = []
    for seed in (0, 1):
        p = tmp_path / f"net{seed}.onnx"
        onnx.save(ConvNet(seed=seed).onnx(), p)
        paths.append(str(p))
    return paths


def test_bare_form_equals_score_subcommand(capsys, models):
    assert main([models[0], "--proxy", "epads", "-b", "8", "--json"]) == 0
    bare = json.loads(capsys.readouterr().out)
    assert main(["score", models[0], "--proxy", "epads", "-b", "8", "--json"]) == 0
    explicit = json.loads(capsys.readouterr().out)
    assert bare == explicit and bare["scores"]["epads"] is not None


def test_json_lines_one_object_per_model_with_settings(capsys, models):
    assert main([*models, "-p", "all", "-b", "8", "--json", "--mu", "1", "--sigma-params", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    objs = [json.loads(line) for line in lines]
    for obj, path in zip(objs, models):
        assert obj["model"] == path
        assert set(obj["scores"]) == {"epads", "naswot", "swap", "reg-swap"}
        assert obj["errors"] == {} and obj["sites"] == 3 and obj["units"] > 0 and obj["params"] > 0
        for key in ("seed", "batch_size", "sigma", "bn", "init", "data", "provider", "onnxruntime", "onnxscore"):
            assert key in obj["settings"]
    assert objs[0]["scores"] != objs[1]["scores"]


def test_all_without_mu_reports_reg_swap_error_and_the_rest(capsys, models):
    assert main([models[0], "-p", "all", "-b", "8", "--json"]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert obj["scores"]["reg-swap"] is None and "mu" in obj["errors"]["reg-swap"]
    assert all(obj["scores"][n] is not None for n in ("epads", "naswot", "swap"))


def test_human_output_shows_scores_and_settings(capsys, models):
    assert main([models[0], "-p", "naswot,swap", "-b", "8"]) == 0
    out = capsys.readouterr().out
    assert "naswot" in out and "swap" in out and "settings:" in out and "provider=CPUExecutionProvider" in out


def test_folded_bn_warning_printed_once_for_several_models(capsys, tmp_path):
    paths = []
    for seed in (0, 1):
        p = tmp_path / f"nobn{seed}.onnx"
        onnx.save(ConvNet(seed=seed, bn=False).onnx(), p)
        paths.append(str(p))
    assert main([*paths, "-b", "8"]) == 0
    err = capsys.readouterr().err
    assert err.count("BN was probably folded") == 1 and "TrainingMode.TRAINING" in err


def test_proxies_lists_every_proxy_with_direction(capsys):
    assert main(["proxies"]) == 0
    out = capsys.readouterr().out.splitlines()
    names = [line.split()[0] for line in out]
    assert names[:4] == ["epads", "naswot", "swap", "reg-swap"] and len(names) == 28
    assert {n for n, line in zip(names, out) if "lower is better" in line} == {"ntk_cond"}
    assert all("needs gradients" in line for line in out[4:15])  # then the gradient family
    kinds = {n: line for n, line in zip(names, out)}
    assert {n for n, line in kinds.items() if "needs graph" in line} == {
        "layers", "flops", "param_count", "vkdnw_dim"}
    assert {n for n, line in kinds.items() if "needs model" in line} == {
        "az_expressivity", "az_progressivity", "az_trainability", "vkdnw_entropy"}
    assert names[23:] == ["az_nas", "vkdnw_single", "vkdnw_agg", "ensemble", "ensemble_in16"]  # the ensembles come last
    assert all("ensemble (relative to the set ranked)" in line for line in out[23:])


def test_help_lists_subcommands(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "score" in out and "proxies" in out
