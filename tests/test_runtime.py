"""Execution-provider choice: CUDA only when onnxruntime lists it AND a driver loads."""
from __future__ import annotations

import pytest

from onnxscore import runtime
from onnxscore.errors import ProviderError

GPU_BUILD = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]


@pytest.fixture()
def fake(monkeypatch):
    preloads = []

    def set_env(available, driver):
        monkeypatch.setattr(runtime.ort, "get_available_providers", lambda: list(available))
        monkeypatch.setattr(runtime, "cuda_driver_present", lambda: driver)
        monkeypatch.setattr(runtime, "_preload_cuda_libs", lambda: preloads.append(1))
        monkeypatch.setattr(runtime, "_CUDA_WORKS", True)  # what the one-node probe session would say
        return preloads

    return set_env


def test_gpu_build_without_driver_uses_cpu(fake):
    preloads = fake(GPU_BUILD, driver=False)
    assert runtime.choose_providers() == ["CPUExecutionProvider"]
    assert preloads == []


def test_gpu_build_with_driver_asks_for_cuda_then_cpu(fake):
    preloads = fake(GPU_BUILD, driver=True)
    assert runtime.choose_providers(None) == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert preloads == [1]  # pip-installed CUDA libraries are preloaded first


@pytest.mark.parametrize("used, chosen", [(["CPUExecutionProvider"], ["CPUExecutionProvider"]),
                                          (["CUDAExecutionProvider", "CPUExecutionProvider"],
                                           ["CUDAExecutionProvider", "CPUExecutionProvider"])])
def test_auto_chooses_cuda_only_when_its_probe_session_runs_on_it(fake, monkeypatch, used, chosen):
    # CUDA listed and a driver present, but with CUDA/cuDNN libraries missing onnxruntime runs the
    # session on the CPU: then a store key recording CUDA would be a lie, and the choice is the CPU.
    fake(GPU_BUILD, driver=True)
    monkeypatch.setattr(runtime, "_CUDA_WORKS", None)
    asked = []

    class Session:
        def __init__(self, data, sess_options=None, providers=None):
            asked.append(providers)

        def get_providers(self):
            return used
    monkeypatch.setattr(runtime.ort, "InferenceSession", Session)
    assert runtime.choose_providers() == chosen
    assert runtime.choose_providers() == chosen
    assert asked == [["CUDAExecutionProvider", "CPUExecutionProvider"]]  # probed once per process


def test_cpu_build_never_asks_for_cuda(fake):
    fake(["AzureExecutionProvider", "CPUExecutionProvider"], driver=True)
    assert runtime.choose_providers("auto") == ["CPUExecutionProvider"]


def test_forced_cpu_and_aliases(fake):
    fake(GPU_BUILD, driver=True)
    assert runtime.choose_providers("cpu") == ["CPUExecutionProvider"]
    assert runtime.choose_providers("CUDA") == ["CUDAExecutionProvider", "CPUExecutionProvider"]


def test_forced_cuda_without_driver_is_an_error(fake):
    fake(GPU_BUILD, driver=False)
    with pytest.raises(ProviderError, match="driver"):
        runtime.choose_providers("cuda")


def test_forced_provider_missing_from_build_is_an_error(fake):
    fake(["CPUExecutionProvider"], driver=False)
    with pytest.raises(ProviderError, match="not available"):
        runtime.choose_providers("cuda")


def test_silent_fallback_is_detected_when_strict():
    """onnxruntime-gpu without CUDA libraries returns a CPU session when CUDA is requested."""
    from tests.models import ConvNet

    class FakeSession:
        def get_providers(self):
            return ["CPUExecutionProvider"]

    model = ConvNet().onnx().SerializeToString()
    real = runtime.ort.InferenceSession
    try:
        runtime.ort.InferenceSession = lambda *a, **k: FakeSession()
        with pytest.raises(ProviderError, match="fell back"):
            runtime.make_session(model, ["CUDAExecutionProvider", "CPUExecutionProvider"], strict=True)
        sess = runtime.make_session(model, ["CUDAExecutionProvider", "CPUExecutionProvider"])
        assert sess.get_providers()[0] == "CPUExecutionProvider"
    finally:
        runtime.ort.InferenceSession = real


def test_score_reports_the_provider_actually_used():
    import onnxscore
    from tests.models import ConvNet

    res = onnxscore.score(ConvNet().onnx(), ["naswot"], batch_size=8)
    assert res.settings["provider"] == "CPUExecutionProvider"


def test_memory_plan_turns_the_arena_off_with_in_graph_packing(monkeypatch):
    """Large models (bits packed in the graph) also run without onnxruntime's CPU arena."""
    import onnxscore
    from tests.models import ConvNet

    seen = []
    real = runtime.make_session

    def spy(*args, **kw):
        seen.append(kw.get("arena"))
        return real(*args, **kw)

    monkeypatch.setattr(runtime, "make_session", spy)
    small = onnxscore.score(ConvNet().onnx(), ["naswot"], batch_size=8, pack=False)
    big = onnxscore.score(ConvNet().onnx(), ["naswot"], batch_size=8, pack=True)
    assert seen == [True, False] and small.scores == big.scores


def _greater_model() -> bytes:
    """y = x > 0 for x of shape (N, 50): the shape of a site's code output."""
    from onnx import TensorProto, helper

    g = helper.make_graph([helper.make_node("Greater", ["x", "z"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 50])],
                          [helper.make_tensor_value_info("y", TensorProto.BOOL, None)],
                          [helper.make_tensor("z", TensorProto.FLOAT, [], [0.0])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 10
    return m.SerializeToString()


def _greater_session():
    import onnxruntime as ort

    return ort.InferenceSession(_greater_model(), providers=["CPUExecutionProvider"])


def test_run_outputs_are_views_of_onnxruntime_buffers_with_the_same_values():
    """No copy on CPU, and the memory outlives later runs (the array keeps onnxruntime's buffer alive)."""
    import gc

    import numpy as np

    sess = _greater_session()
    x = np.random.default_rng(0).standard_normal((300, 50)).astype(np.float32)
    (got,) = runtime.run_outputs(sess, ["y"], {"x": x})
    assert not got.flags.owndata and got.dtype == np.bool_
    gc.collect()
    for _ in range(3):
        runtime.run_outputs(sess, ["y"], {"x": -x})
    assert np.array_equal(got, sess.run(["y"], {"x": x})[0]) and np.array_equal(got, x > 0)


def test_run_outputs_leaves_other_providers_to_session_run():
    class FakeCuda:
        def get_providers(self):
            return ["CUDAExecutionProvider", "CPUExecutionProvider"]

        def run(self, names, feeds):
            return ["copied by session.run"]

        def run_with_ort_values(self, *a):
            raise AssertionError("device outputs must go through session.run")

    assert runtime.run_outputs(FakeCuda(), ["y"], {"x": 0}) == ["copied by session.run"]


def test_sessions_share_one_cpu_arena_and_earlier_outputs_survive():
    """CPU sessions use the process-wide arena (memory reused across models); an output view taken
    from one session keeps its values after that session is gone and later sessions reuse the arena."""
    import gc

    import numpy as np

    data = _greater_model()
    shared = runtime.make_session(data, ["CPUExecutionProvider"])
    assert runtime.shared_cpu_arena()
    key = "session.use_env_allocators"
    assert shared.get_session_options().get_session_config_entry(key) == "1"
    own = runtime.make_session(data, ["CPUExecutionProvider"], arena=False)  # the memory plan's big models
    with pytest.raises(RuntimeError):
        own.get_session_options().get_session_config_entry(key)  # not set: no arena at all
    x = np.random.default_rng(1).standard_normal((4000, 50)).astype(np.float32)
    (kept,) = runtime.run_outputs(shared, ["y"], {"x": x})
    del shared
    gc.collect()
    for _ in range(3):
        runtime.run_outputs(runtime.make_session(data, ["CPUExecutionProvider"]), ["y"], {"x": -x})
    assert np.array_equal(kept, x > 0)


@pytest.mark.parametrize("level", ["all", "basic", "none"])
def test_the_optimization_level_reaches_the_session_and_the_values_do_not_change(level):
    import numpy as np

    sess = runtime.make_session(_greater_model(), ["CPUExecutionProvider"], optimization=level)
    assert sess.get_session_options().graph_optimization_level == runtime.OPTIMIZATION_LEVELS[level]
    x = np.random.default_rng(2).standard_normal((8, 50)).astype(np.float32)
    assert np.array_equal(runtime.run_outputs(sess, ["y"], {"x": x})[0], x > 0)
