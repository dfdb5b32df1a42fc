"""`onnxscore evaluate`: NB201 sample and CSV end to end, JSON shape, cache, dead archs, plot, Ctrl-C."""
from __future__ import annotations

import json
import sys

import numpy as np
import onnx
import pytest

from onnxscore.cli.main import main
from tests.models import ConvNet

# seed 1's first 6 rows include a dead architecture (no cell input-output path)
NB201 = ["evaluate", "--space", "nb201", "--sample", "6", "--sample-seed", "1", "-b", "16", "--workers", "0", "-q"]


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def nb201_json(tmp_path_factory, shared_data):
    """One real run on 6 NB201 CIFAR-10 architectures (B = 16), then the same command again (cached)."""
    from onnxscore.cli.main import main as m

    store = tmp_path_factory.mktemp("ev") / "store.sqlite"
    outs = []
    for _ in range(2):
        import io
        from contextlib import redirect_stdout

        buf = io.StringIO()
        with redirect_stdout(buf):
            assert m([*NB201, "--dataset", "cifar10", "--store", str(store), "--json"]) == 0
        outs.append(json.loads(buf.getvalue()))
    return outs, store


def test_nb201_json_object_end_to_end(nb201_json):
    obj = nb201_json[0][0]
    assert obj["n"] == 6 and obj["dataset"] == "cifar10"
    assert set(obj["results"]) == {"epads", "naswot", "swap", "params"}
    for r in obj["results"].values():
        assert set(r) == {"kendall", "spearman", "top10_precision"}
        assert -1 <= r["kendall"] <= 1 and -1 <= r["spearman"] <= 1
        assert r["top10_precision"] is None  # 10% of 6 models is less than one model
    assert any("top10%: undefined (null) for 6 models" in n for n in obj["notes"])
    s = obj["settings"]
    assert s["sample_seed"] == 1 and s["sample"] == 6 and s["batch_size"] == 16 and s["sigma"] == 1.0
    assert s["bn"] == "batch" and s["batch_seed"] == 2027 and s["image_size"] == 32
    assert "cifar10_test_1000.npz" in s["data"] and "default_rng(1).choice(15625, 6" in s["sample_rule"]
    for key in ("noise_seed", "build_seed", "provider", "onnxruntime", "onnxscore", "weights", "null_rule"):
        assert key in s
    assert obj["scored"] == 6 and obj["interrupted"] is False


def test_metrics_recomputed_from_the_accuracy_table(nb201_json, shared_data):
    """The params baseline must equal the correlation of closed-form NB201 counts with the table."""
    from onnxscore import evaluation as ev
    from onnxscore.spaces.nb201 import load_accuracies, params

    rows = list(load_accuracies().values())
    pick = [rows[i] for i in np.random.default_rng(1).choice(15625, 6, replace=False)]
    want = ev.metrics([params(r["arch_str"]) for r in pick], [r["cifar10_acc"] for r in pick])
    assert nb201_json[0][0]["results"]["params"] == pytest.approx(want)


def test_dead_architecture_scored_and_reported(nb201_json):
    obj = nb201_json[0][0]
    assert obj["dead"]["count"] == 1 and obj["dead"]["included"] is True
    assert obj["failed"] == 0  # a dead network is not a failure
    assert any("dead architectures: 1" in n for n in obj["notes"])
    # its null ePADS / NASWOT are counted and rank last
    assert obj["nulls"]["epads"] == obj["dead"]["null"]["epads"]


def test_rerun_comes_from_the_store(nb201_json):
    first, second = nb201_json[0]
    assert second["scored"] == 0 and second["cached"] == 6
    assert second["results"] == first["results"]


def test_cifar100_scores_equal_cifar10_only_accuracies_differ(nb201_json, capsys):
    """The head touches no ReLU site: same seed -> same proxy scores; the metrics then differ by accuracy."""
    from onnxscore.store import ResultStore

    _, store = nb201_json
    code, out, _ = run(capsys, *NB201, "--dataset", "c100", "--store", store, "--json", "-p", "epads")
    assert code == 0
    obj = json.loads(out)
    assert obj["dataset"] == "cifar100" and obj["scored"] == 6  # different models, not cached
    with ResultStore(store) as st:
        rows = [r for r in st.rows() if r["proxy"] == "epads" and r["status"] == "ok"]
    by_model = {}
    for r in rows:
        by_model.setdefault(r["model"], set()).add(round(r["score"], 9))
    assert len(rows) == 10 and all(len(v) == 1 for v in by_model.values())


def test_text_report_for_imagenet16_states_stand_ins(capsys, tmp_path, shared_data):
    code, out, _ = run(capsys, "evaluate", "--space", "nb201", "--dataset", "ImageNet16-120", "--sample", "3",
                       "--sample-seed", "3", "-b", "8", "-p", "epads", "--workers", "0", "-q",
                       "--store", tmp_path / "s.sqlite")
    assert code == 0
    assert "stand-ins" in out and "16x16" in out and "params" in out and "kendall" in out
    assert "time:" in out and "noise_seed=0" in out


@pytest.fixture()
def csv_file(tmp_path):
    rows = []
    for seed, acc in zip(range(4), (70.0, 80.0, 75.0, 90.0)):
        p = tmp_path / f"net{seed}.onnx"
        onnx.save(ConvNet(seed=seed, hw=16, c=4 + 2 * seed).onnx(), p)
        rows.append(f"{p.name},{acc}")
    f = tmp_path / "models.csv"
    f.write_text("model,accuracy\n" + "\n".join(rows) + "\n")
    return f


def test_csv_end_to_end_with_plot(capsys, tmp_path, csv_file, shared_data):
    png = tmp_path / "out.png"
    code, out, err = run(capsys, "evaluate", csv_file, "--image-size", "16", "-b", "8", "--workers", "0", "-q",
                         "--store", tmp_path / "s.sqlite", "--json", "--plot", png, "-o", tmp_path / "r.json")
    assert code == 0, err
    obj = json.loads(out)
    assert obj["n"] == 4 and obj["dataset"] == "models" and obj["dead"] is None
    assert obj["nulls"] == {"epads": 0, "naswot": 0, "swap": 0, "params": 0}
    assert obj["results"]["params"]["kendall"] == pytest.approx(4 / 6)  # sizes grow with seed: 70 < 80 > 75 < 90
    assert json.loads((tmp_path / "r.json").read_text()) == obj
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_csv_model_that_fails_counts_as_failed_null(capsys, tmp_path, csv_file, shared_data):
    (tmp_path / "broken.onnx").write_bytes(b"not onnx")
    csv_file.write_text(csv_file.read_text() + "broken.onnx,95\n")
    code, out, _ = run(capsys, "evaluate", csv_file, "--image-size", "16", "-b", "8", "--workers", "0", "-q",
                       "--store", tmp_path / "s.sqlite", "--json", "-p", "epads")
    assert code == 0
    obj = json.loads(out)
    assert obj["n"] == 5 and obj["failed"] == 1 and obj["nulls"]["epads"] == 1


def test_plot_without_matplotlib_is_one_line_error(capsys, monkeypatch, csv_file, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    code, out, err = run(capsys, "evaluate", csv_file, "--plot", tmp_path / "x.png", "--store", tmp_path / "s.sqlite")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and 'pip install "matplotlib>=3.7"' in err and 'pip install ".[plot]"' in err


@pytest.mark.parametrize("args, needle", [
    (["evaluate"], "either a CSV"),
    (["evaluate", "--space", "nb201"], "--dataset"),
    (["evaluate", "--space", "nds", "--dataset", "x"], "unknown search space"),
    (["evaluate", "--space", "mobilenet-like", "--dataset", "x"], "does not take --dataset"),
    (["evaluate", "--space", "nb201", "--dataset", "mnist", "--sample", "2"], "unknown NAS-Bench-201 dataset"),
    (["evaluate", "--space", "nb201", "--dataset", "cifar10", "--sample", "2", "-p", "params"], "baseline"),
])
def test_bad_options_are_one_line_errors(capsys, tmp_path, shared_data, args, needle):
    code, out, err = run(capsys, *args, "--store", tmp_path / "s.sqlite")
    assert code == 2 and needle in err and err.count("\n") == 1


def test_ctrl_c_prints_what_was_done(capsys, monkeypatch, tmp_path, shared_data):
    """Interrupt after 2 of 4 models: exit 130, and the metrics over the 2 finished ones are printed."""
    import onnxscore.engine as rank_mod

    real = rank_mod.rank

    def interrupted(cands, settings, **kw):
        real(cands[:2], settings, **kw)
        raise KeyboardInterrupt

    monkeypatch.setattr(rank_mod, "rank", interrupted)
    code, out, err = run(capsys, "evaluate", "--space", "nb201", "--dataset", "ImageNet16-120", "--sample", "4",
                         "--sample-seed", "5", "-b", "8", "-p", "epads", "--workers", "0", "-q",
                         "--store", tmp_path / "s.sqlite", "--json")
    assert code == 130
    obj = json.loads(out)
    assert obj["interrupted"] is True and obj["n"] == 2 and obj["total"] == 4
    assert "2 of 4" in err and "interrupted" in err
    code, out, err = run(capsys, "evaluate", "--space", "nb201", "--dataset", "ImageNet16-120", "--sample", "4",
                         "--sample-seed", "5", "-b", "8", "-p", "epads", "--workers", "0", "-q",
                         "--store", tmp_path / "s2.sqlite")
    assert code == 130 and "until interrupted (2 of 4 finished" in out  # the time line does not claim a full run
