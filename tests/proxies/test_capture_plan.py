"""The capture plan: the scorer runs the fewest forwards for the union of the proxies' needs, and a
proxy may need float activations or the model's outputs besides sign codes."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import onnxscore
from onnxscore import runtime
from onnxscore.proxies import registry

MODEL = Path(__file__).resolve().parents[2] / "samples" / "tiny_cnn.onnx"


@pytest.fixture
def float_proxies():
    @registry.register("t-mean-abs", "mean |pre-activation| over the sites", needs=("site_values",))
    def mean_abs(values, ctx):
        return float(np.mean([np.abs(v).mean() for v in values]))

    @registry.register("t-logit-spread", "std of the logits and the fraction of active units",
                       needs=("outputs", "codes"))
    def spread(data, ctx):
        active = np.mean([c.unpacked().mean() for c in data["codes"]])
        return float(np.std(data["outputs"][0])) + float(active)

    yield
    registry.unregister("t-mean-abs")
    registry.unregister("t-logit-spread")


@pytest.fixture
def count_runs(monkeypatch):
    calls = []
    real = runtime.run_outputs

    def counted(sess, names, feeds):
        calls.append((len(names), next(iter(feeds.values())).shape[0]))
        return real(sess, names, feeds)

    monkeypatch.setattr(runtime, "run_outputs", counted)
    return calls


def _codes_and_values(x):
    """An independent run: every site's float input, and the model's output, with plain onnxruntime."""
    import onnx
    import onnxruntime as ort

    from onnxscore.graph.batchnorm import use_batch_statistics
    from onnxscore.graph.sites import find_sites
    from onnxscore.graph.view import GraphView

    m = onnx.load(MODEL)
    use_batch_statistics(m)
    sites = find_sites(GraphView(m))
    for s in sites:
        m.graph.output.append(onnx.ValueInfoProto(name=s.tensor))
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    outs = sess.run(None, {sess.get_inputs()[0].name: x})
    return outs[1:], outs[0]


def test_float_activation_and_code_proxies_share_one_forward(float_proxies, count_runs):
    sc = onnxscore.Scorer(batch_size=8)
    res = sc.score(MODEL, ["t-mean-abs", "naswot", "t-logit-spread"])
    assert res.errors == {}
    assert count_runs == [(count_runs[0][0], 8)]  # one clean forward of B serves all three
    values, logits = _codes_and_values(_batch(sc))
    assert res.scores["t-mean-abs"] == pytest.approx(np.mean([np.abs(v).mean() for v in values]), rel=1e-6)
    active = np.mean([(v > 0).mean() for v in values])
    assert res.scores["t-logit-spread"] == pytest.approx(np.std(logits) + active, rel=1e-6)


def test_adding_epads_adds_only_the_paired_forward(float_proxies, count_runs):
    res = onnxscore.Scorer(batch_size=8).score(MODEL, ["epads", "t-mean-abs", "naswot"])
    assert res.errors == {}
    assert sorted(rows for _, rows in count_runs) == [8, 16]  # 2B for ePADS, B for the rest
    count_runs.clear()
    onnxscore.Scorer(batch_size=8).score(MODEL, ["epads", "naswot"])
    assert len(count_runs) <= 2


def _batch(sc):
    """The batch the Scorer fed (its seeded random-normal batch of the model's input)."""
    import onnx

    from onnxscore.inputs import input_spec

    return sc.batch(input_spec(onnx.load(MODEL), None, None))
