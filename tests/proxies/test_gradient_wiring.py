"""The gradient proxies wherever the activation proxies are: score (API and CLI), rank keys, labels."""
from __future__ import annotations

import json

import numpy as np
import pytest

import onnxscore
from onnxscore.inputs import input_spec
from onnxscore.proxies import registry
from onnxscore.proxies.gradient import gradient_scores
from onnxscore.spaces.nb201 import build_model

ARCH = "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_3x3~1|none~2|"
GRAD = ["grad_norm", "snip", "l2_norm", "synflow"]


@pytest.fixture(scope="module")
def model():
    return build_model(ARCH, "cifar10", seed=0)


def test_groups_keep_all_as_it_was_and_gradient_is_the_family():
    assert registry.parse("all") == ["epads", "naswot", "swap", "reg-swap"]
    fam = registry.parse("gradient")
    assert len(fam) == 11 and "ntk_cond" in fam and not registry.get("ntk_cond").higher_is_better


def test_score_computes_gradient_proxies_from_one_plan_beside_the_activation_ones(model):
    sc = onnxscore.Scorer(batch_size=16, grad_batch_size=8)
    res = sc.score(model, ["naswot", *GRAD])
    x = sc.batch(input_spec(model, None, None))[:8]
    y = np.random.default_rng([0, 5]).integers(0, 10, 8)
    want = gradient_scores(model, x, y, GRAD)
    assert res.errors == {} and res.scores["naswot"] is not None and res.sites > 0
    for name in GRAD:
        assert res.scores[name] == want[name].value
    assert res.settings["labels"] == "random(seed=0, classes=10)" and res.settings["grad_batch_size"] == 8


def test_cli_takes_labels_and_user_data_without_labels_is_null_with_the_flag(model, tmp_path, capsys):
    from onnxscore.cli.main import main

    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    x = np.random.default_rng(3).standard_normal((8, 3, 32, 32)).astype(np.float32)
    y = np.arange(8, dtype=np.int64) % 10
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    args = [str(path), "-p", "grad_norm", "-b", "8", "--grad-batch-size", "8", "--data", str(tmp_path / "x.npy"),
            "--json"]
    assert main([*args, "--labels", str(tmp_path / "y.npy")]) in (0, None)
    obj = json.loads(capsys.readouterr().out)
    # the CLI scores in its own session (possibly a child process): the same float32 gradients up to
    # the last bit of a reduction, so 1e-12, far below what other labels change (checked next)
    want = gradient_scores(model, x, y, ["grad_norm"])["grad_norm"].value
    assert obj["scores"]["grad_norm"] == pytest.approx(want, rel=1e-12)
    other = gradient_scores(model, x, (y + 1) % 10, ["grad_norm"])["grad_norm"].value
    assert abs(other - want) > 1e-6 * abs(want)
    assert obj["settings"]["labels"] == str(tmp_path / "y.npy")
    main(args)
    obj = json.loads(capsys.readouterr().out)
    assert obj["scores"]["grad_norm"] is None and "--labels" in obj["errors"]["grad_norm"]


def test_labels_enter_the_store_key_and_leave_the_activation_keys_alone(tmp_path):
    from onnxscore.engine import RankSettings

    y = tmp_path / "y.npy"
    np.save(y, np.zeros(8, np.int64))
    plain = RankSettings(proxies=("naswot",), scorer={"batch_size": 8}).score_key()
    assert "labels" not in plain and "grad_batch_size" not in plain
    with_labels = RankSettings(proxies=("snip",), scorer={"batch_size": 8, "labels": str(y)}).score_key()
    np.save(y, np.ones(8, np.int64))
    changed = RankSettings(proxies=("snip",), scorer={"batch_size": 8, "labels": str(y)}).score_key()
    assert with_labels != plain and changed != with_labels


def test_an_op_without_a_gradient_rule_nulls_the_gradient_proxies_by_name_and_spares_the_others():
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    consts = {"w": rng.standard_normal((4, 3, 3, 3)).astype(np.float32),
              "fc": rng.standard_normal((5, 4)).astype(np.float32)}
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("Sin", ["r"], ["s"], name="odd_sine"),
             helper.make_node("GlobalAveragePool", ["s"], ["g"]),
             helper.make_node("Flatten", ["g"], ["f"]),
             helper.make_node("Gemm", ["f", "fc"], ["logits"], transB=1)]
    graph = helper.make_graph(nodes, "sine", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 5])],
                              initializer=[numpy_helper.from_array(v, k) for k, v in consts.items()])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 9
    res = onnxscore.Scorer(batch_size=8).score(m, ["naswot", "grad_norm", "ntk_cond", "l2_norm"])
    assert res.scores["naswot"] is not None and res.scores["l2_norm"] is not None  # needs no backward pass
    for name in ("grad_norm", "ntk_cond"):
        assert res.scores[name] is None and "Sin node 'odd_sine'" in res.errors[name], res.errors
