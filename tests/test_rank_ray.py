"""A small rank job through a local Ray instance gives the same results as the local backend."""
from __future__ import annotations

import pytest

ray = pytest.importorskip("ray", reason="ray is not installed (pip install \"onnxscore[ray]\"); CI installs it")

from onnxscore.engine import RankSettings, rank, space_candidates  # noqa: E402
from onnxscore.store import ResultStore  # noqa: E402


def test_ray_local_matches_local_backend(tmp_path, monkeypatch):
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    cands = space_candidates("nb201", 4, seed=0, dataset="cifar10")

    def settings():
        return RankSettings(proxies=("epads", "naswot"), scorer={"batch_size": 16})

    local = rank(cands, settings(), store=tmp_path / "local.sqlite", workers=0, progress=False)
    via_ray = rank(cands, settings(), store=tmp_path / "ray.sqlite", workers=2, ray_address="local",
                   progress=False)
    assert not ray.is_initialized()  # the job shut down the instance it started
    assert via_ray.scored == 4 and all(r["status"] == "ok" for r in via_ray.rows)
    assert [r["model"] for r in via_ray.rows] == [r["model"] for r in local.rows]
    for p in ("epads", "naswot"):
        assert [r[p] for r in via_ray.rows] == pytest.approx([r[p] for r in local.rows], rel=1e-9)
        assert [r[f"{p}_rank"] for r in via_ray.rows] == [r[f"{p}_rank"] for r in local.rows]
    assert [(r["params"], r["macs"]) for r in via_ray.rows] == [(r["params"], r["macs"]) for r in local.rows]
    with ResultStore(tmp_path / "ray.sqlite") as st:  # results flowed into the store
        assert st.count() == 8 and st.count("metrics") == 4
    # a rerun through Ray finds everything in the store and starts no work
    again = rank(cands, settings(), store=tmp_path / "ray.sqlite", ray_address="local", progress=False)
    assert again.scored == 0 and again.cached == 4
