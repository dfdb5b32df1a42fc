"""`onnxscore search` with an oracle: --train-cmd end to end with a tiny real training script, the store as
the cache across reruns, and one-line errors for the wrong combinations."""
from __future__ import annotations

import json
import sys
import textwrap

from onnxscore.cli.main import main

TRAIN = textwrap.dedent('''
    """Tiny real training: a softmax head fitted by gradient descent on the candidate's outputs."""
    import sys
    import numpy as np
    import onnxruntime as ort

    sess = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 3, 8, 8)).astype(np.float32)
    y = (x[:, 0].mean((1, 2)) > 0).astype(int) + 2 * (x[:, 1, :4].mean((1, 2)) > 0).astype(int)
    f = sess.run(None, {sess.get_inputs()[0].name: x})[0].astype(np.float64)
    f = np.c_[(f - f.mean(0)) / (f.std(0) + 1e-6), np.ones(len(f))]
    w = np.zeros((f.shape[1], 4))
    onehot = np.eye(4)[y[:192]]
    for epoch in range(300):
        z = f[:192] @ w
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        w -= 0.5 * f[:192].T @ (p - onehot) / 192
    print("trained 300 epochs on", sys.argv[2])
    print(100.0 * ((f[192:] @ w).argmax(1) == y[192:]).mean())
''')


def _objs(out: str) -> list[dict]:
    return [json.loads(line) for line in out.strip().splitlines()]


def test_train_cmd_end_to_end_and_cached_across_reruns(capsys, tmp_path):
    script = tmp_path / "train.py"
    script.write_text(TRAIN)
    store = str(tmp_path / "s.sqlite")
    args = ["search", "--space", "toy", "--train-cmd", f"{sys.executable} {script} {{onnx}} {{arch}}",
            "--algo", "shortlist", "--proxy", "params", "--budget", "30", "-k", "3", "--no-onnx", "--json", "-q",
            "--store", store]
    assert main(args) == 0
    (obj,) = _objs(capsys.readouterr().out)
    assert obj["queries"] == 3 and obj["new_queries"] == 3 and obj["queries_limit"] == 3
    answers = [v for _, v in obj["queried"]]
    assert all(isinstance(v, float) and 0 <= v <= 100 for v in answers)
    assert obj["oracle_accuracy"] == max(answers) and obj["oracle_seconds"] > 0
    assert "train-cmd" in obj["settings"]["oracle"] and obj["settings"]["queries_limit"] == 3
    assert main(args) == 0  # the rerun trains nothing: every answer is in the store
    (again,) = _objs(capsys.readouterr().out)
    assert again["new_queries"] == 0 and again["queried"] == obj["queried"]


def test_a_failing_training_is_that_candidates_failure(capsys, tmp_path):
    script = tmp_path / "train.py"
    script.write_text("import sys\nprint('diverged', file=sys.stderr)\nsys.exit(3)\n")
    args = ["search", "--space", "toy", "--train-cmd", f"{sys.executable} {script} {{onnx}}", "--algo", "random",
            "-k", "2", "--no-onnx", "--store", str(tmp_path / "s.sqlite"), "-q"]
    assert main(args) == 2
    cap = capsys.readouterr()
    assert "oracle failed on" in cap.out and "exited with code 3: diverged" in cap.out
    assert "Traceback" not in cap.err and len(cap.err.strip().splitlines()) == 1


def test_hybrid_summary_over_repeats(capsys, tmp_path):
    args = ["search", "--oracle", "nb201", "--algo", "hnas", "--proxy", "params", "--budget", "100", "-k", "5",
            "--repeat", "2", "--no-onnx", "-q", "--store", str(tmp_path / "s.sqlite")]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "queries 5 of 5" in out and "oracle answer" in out and "test accuracy" in out


def test_wrong_combinations_are_one_line_errors(capsys, tmp_path):
    assert main(["search", "--algo", "prenas", "--no-onnx", "-q"]) == 2
    assert "spends oracle queries" in capsys.readouterr().err
    assert main(["search", "--space", "toy", "--oracle", "nb201", "--algo", "random", "--no-onnx", "-q",
                 "--store", str(tmp_path / "s.sqlite")]) == 2
    assert "answers NAS-Bench-201 architectures" in capsys.readouterr().err
    assert main(["search", "--space", "toy", "--train-cmd", "python t.py", "--no-onnx", "-q"]) == 2
    assert "must contain {onnx}" in capsys.readouterr().err


def test_repeat_json_summary_carries_the_oracle_and_its_costs(capsys, tmp_path):
    args = ["search", "--oracle", "nb201", "--algo", "shortlist", "--proxy", "params", "--budget", "50", "-k", "4",
            "--repeat", "2", "--no-onnx", "-q", "--json", "--store", str(tmp_path / "s.sqlite")]
    assert main(args) == 0
    *runs, last = _objs(capsys.readouterr().out)
    summ = last["summary"]
    assert "validation accuracy" in summ["oracle"] and summ["queries"]["mean"] == 4
    for key in ("new_queries", "oracle_seconds", "proxy_cpu_seconds", "oracle_accuracy", "test_accuracy"):
        assert summ[key]["n"] == 2, key
    assert all(r["settings"]["oracle"] == summ["oracle"] for r in runs)
