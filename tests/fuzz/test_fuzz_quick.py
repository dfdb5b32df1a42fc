"""Fast fuzz tests (issue 16): a fixed-seed small campaign through the real CLI.

30 mutated models, the 40 corpus entries marked quick (bad paths, --data, options, output files,
store files) and three fault scenarios (a rank worker crash, kill -9 then resume, Ctrl-C while
onnxscore is still starting). Every onnxscore
call is a subprocess with a timeout; each test asserts that no input produced a traceback, a signal
death, a hang, an internal error, a silent wrong result, a stray log line, an exit without an error
line or a process left behind. A failure message lists every failing input with a command to
reproduce it (`python bench/fuzz.py --replay ID --seed 0`). The long campaign is bench/fuzz.py.
"""
from __future__ import annotations

import math

import pytest

from bench import fuzzlib as F

SEED = 0
N_MUTANTS = 30
JOBS = 2   # two onnxscore processes at a time (2 cores): keeps the file under 90 s


@pytest.fixture(scope="module")
def camp(tmp_path_factory):
    c = F.Campaign(tmp_path_factory.mktemp("fuzz"), seed=SEED)
    yield c
    F.umount_all()


def _explain(outcomes) -> str:
    lines = []
    for o in outcomes:
        lines.append(f"{o.id} [{', '.join(o.kinds)}]: {o.desc[:140]}")
        for k, d in o.failures[:3]:
            lines.append(f"    {k}: {d[:240]}")
        lines.append(f"    stderr: {o.first_stderr[:200]}")
        lines.append(f"    reproduce: {o.replay}")
    return f"{len(outcomes)} failing input(s):\n" + "\n".join(lines)


def _new(camp, before):
    return camp.outcomes[before:]


def test_mutated_models_fail_cleanly(camp):
    before = len(camp.outcomes)
    camp.run_mutants(N_MUTANTS, jobs=JOBS)
    outs = _new(camp, before)
    assert len(outs) == N_MUTANTS
    bad = [o for o in outs if o.status == "fail"]
    assert not bad, _explain(bad)


def test_bad_inputs_and_options_give_one_clean_line(camp):
    before = len(camp.outcomes)
    camp.run_corpus(quick=True, jobs=JOBS)
    outs = [o for o in _new(camp, before) if o.status != "skipped"]
    assert len(outs) >= 35
    bad = [o for o in outs if o.status == "fail"]
    assert not bad, _explain(bad)


def test_rank_survives_a_crashing_worker(camp):
    o = camp.scenario_case("crash-w1")
    assert o.status == "ok", _explain([o])


def test_rank_resumes_after_kill_9(camp):
    o = camp.scenario_case("kill9-once")
    assert o.status == "ok", _explain([o]) + "\n" + "; ".join(o.notes)


def test_ctrl_c_while_starting_prints_no_traceback(camp):
    o = camp.scenario_case("sigint-startup")
    assert o.status == "ok", _explain([o]) + "\n" + "; ".join(o.notes)


# ---------------------------------------------------------------- the harness itself (no onnxscore runs)

def _run(rc, stderr="", stdout="", timed_out=False, orphans=()):
    return F.Run(["score", "m.onnx"], "/tmp", rc, stdout, stderr, 0.1, timed_out, list(orphans))


def test_classifier_tells_failures_from_clean_errors():
    kinds = lambda r, **kw: {k for k, _ in F.classify(r, **kw)}
    assert kinds(_run(2, "onnxscore: error: m.onnx does not exist; check the path\n")) == set()
    assert kinds(_run(2, "onnxscore: warning: x\nonnxscore: error: bad\n")) == set()
    assert kinds(_run(0, "rank [####----] 1/2  50.0%\rrank [########] 2/2\n")) == set()
    assert kinds(_run(-11)) == {"signal"}
    assert kinds(_run(139, "Segmentation fault (core dumped)\n")) >= {"signal"}
    assert kinds(_run(None, timed_out=True)) == {"hang"}
    assert "traceback" in kinds(_run(1, "Traceback (most recent call last):\n  File \"x\", line 1\nValueError: x\n"))
    assert kinds(_run(1, "onnxscore: internal error: KeyError: 'x' (rerun with --debug ...)\n")) == {"internal"}
    assert "stray" in kinds(_run(0, "2026-01-01 [E:onnxruntime:, sequential_executor.cc:516] boom\n"))
    assert "stray" in kinds(_run(0, "/x/inputs.py:187: RuntimeWarning: overflow encountered in cast\n"))
    assert kinds(_run(1, "")) == {"bad-exit"}
    assert kinds(_run(0, "", orphans=["pid 1: python"])) == {"orphan"}
    assert kinds(_run(0), expect="error") == {"wrong"}
    assert kinds(_run(130, "onnxscore: interrupted\n"), interrupt_ok=True) == set()


def test_oracles_catch_wrong_results(tmp_path):
    ok = {"scores": {"epads": 1.0, "naswot": None}, "errors": {"naswot": "singular"}, "units": 100,
          "settings": {"batch_size": 8}}
    assert F.check_score_object(ok) == []
    assert F.check_score_object({**ok, "scores": {"epads": math.nan}})                 # (a) NaN
    assert F.check_score_object({**ok, "errors": {}})                                  # (a) null without a reason
    assert F.check_score_object({**ok, "units": 3, "scores": {"naswot": 12.5}})        # (c) singular kernel
    assert F.scores_differ({"epads": 1.0}, {"epads": 1.0}) is None                     # (b)/(d)
    assert F.scores_differ({"epads": 1.0}, {"epads": 1.0 + 1e-12})
    assert F.scores_differ({"epads": None}, {"epads": 2.0})
    (tmp_path / "a").write_bytes(b"x")
    before = F.snapshot(tmp_path)
    (tmp_path / "a").write_bytes(b"y")
    assert F.diff_snapshot(before, F.snapshot(tmp_path))                               # (e)/(f)


def test_mutants_depend_only_on_seed_and_index():
    seeds = F.build_seeds()
    a, b = F.make_mutant(seeds, 7, 3), F.make_mutant(seeds, 7, 3)
    assert a.files == b.files and a.desc == b.desc and a.args == b.args
    assert F.make_mutant(seeds, 7, 4).files != a.files or F.make_mutant(seeds, 7, 4).desc != a.desc
