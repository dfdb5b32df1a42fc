"""score, rank, evaluate and search take one group of scoring options: same flags, meaning and defaults."""
from __future__ import annotations

import json

import pytest

from onnxscore.cli.main import main
from onnxscore.cli.evaluate import command as evaluate_cmd
from onnxscore.cli.rank import command as rank_cmd
from onnxscore.cli.score import command as score_cmd
from onnxscore.cli.search import command as search_cmd

SHARED = ("--proxy", "--batch-size", "--noise-seed", "--sigma", "--data", "--bn", "--init", "--provider", "--input",
          "--input-shape", "--mu", "--sigma-params", "--activations", "--merged-sites", "--max-memory",
          "--proxy-module")


def _options(cmd) -> dict:
    out = {}
    for p in cmd.params:
        for flag in getattr(p, "opts", ()):
            out[flag] = (p.name, p.default if p.name != "proxy" else None)
    return out


def test_every_command_has_the_shared_group_with_the_same_meaning_and_defaults():
    groups = [_options(c) for c in (score_cmd, rank_cmd, evaluate_cmd, search_cmd)]
    for flag in SHARED:
        seen = {g[flag] for g in groups}
        assert len(seen) == 1, (flag, seen)
    assert groups[0]["--seed"] == groups[0]["--noise-seed"] == ("seed", 0)  # score/rank: --seed too
    assert evaluate_cmd.params and "--sample-seed" in groups[2] and "--search-seed" in groups[3]


def test_the_old_seed_spellings_still_work_with_a_note(capsys, tmp_path):
    args = ["search", "--space", "toy", "--algo", "random", "--proxy", "params", "--budget", "3", "--no-onnx",
            "--json", "-q", "--store", str(tmp_path / "s.sqlite")]
    assert main([*args, "--seed", "7"]) in (0, None)
    out = capsys.readouterr()
    assert json.loads(out.out.splitlines()[0])["settings"]["seed"] == 7
    assert "--seed in `search` is its search seed, now spelled --search-seed" in out.err
    assert main([*args, "--search-seed", "7"]) in (0, None)
    out2 = capsys.readouterr()
    assert json.loads(out2.out.splitlines()[0])["arch"] == json.loads(out.out.splitlines()[0])["arch"]
    assert "note" not in out2.err


@pytest.mark.slow
def test_rank_evaluate_and_search_share_cached_scores_by_default(tmp_path, capsys):
    """rank --space builds with --build-seed 0 (not the noise seed) as evaluate and search do: a rerun of the
    same architectures through evaluate scores nothing new."""
    store = str(tmp_path / "s.sqlite")
    data = tmp_path / "x.npy"
    import numpy as np

    np.save(data, np.random.default_rng(0).standard_normal((8, 3, 32, 32)).astype(np.float32))
    assert main(["rank", "--space", "nb201", "--sample", "3", "--sample-seed", "4", "--seed", "5", "-b", "8",
                 "--data", str(data), "--workers", "0", "--store", store, "-q", "-p", "naswot"]) in (0, None)
    capsys.readouterr()
    from onnxscore.engine import RankSettings, rank, space_candidates

    cands = space_candidates("nb201", 3, seed=4, build_seed=0, dataset="cifar10")
    res = rank(cands, RankSettings(proxies=("naswot",), scorer={"batch_size": 8, "seed": 5, "data": str(data)}),
               store=store, workers=0, progress=False)
    assert res.scored == 0 and res.cached == 3
