"""An ensemble wherever a proxy is: rank (relative to the candidates), evaluate (relative to the rows the
metrics use), search (relative to every candidate evaluated so far), and a clear error for one model."""
from __future__ import annotations

import numpy as np
import onnx
import pytest

from onnxscore.cli.main import main
from onnxscore.errors import ProxyError
from onnxscore.proxies import registry
from onnxscore.proxies.ensemble import combine, register_ensemble
from tests.models import ConvNet

NAME = "test_layers_flops"


@pytest.fixture(autouse=True, scope="module")
def registered():
    register_ensemble(NAME, ["layers", "flops"], replace=True)
    yield
    registry.unregister(NAME)


def test_registered_like_a_proxy_with_its_members():
    spec = registry.get(NAME)
    assert spec.is_ensemble and spec.higher_is_better and spec.members == ("layers", "flops")
    assert registry.computed([NAME, "epads"]) == ["layers", "flops", "epads"]
    assert NAME not in registry.group("all")
    for name in ("az_nas", "vkdnw_single", "vkdnw_agg", "ensemble", "ensemble_in16"):
        assert registry.is_ensemble(name)


def test_an_ensemble_of_an_ensemble_is_refused():
    with pytest.raises(ProxyError, match="is an ensemble; list its members"):
        register_ensemble("nested", [NAME, "layers"])


def test_score_of_one_model_says_why_and_what_to_do(tmp_path, capsys):
    p = tmp_path / "net.onnx"
    onnx.save(ConvNet(seed=0).onnx(), p)
    import onnxscore
    with pytest.raises(ProxyError, match=f"{NAME} is an ensemble: it ranks each model within a set.*-p layers,flops"):
        onnxscore.score(str(p), proxies=[NAME])
    assert main(["score", str(p), "-p", NAME]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0] and "rank several models" in err[0]


def _nb201_cands(n, seed=0):
    from onnxscore.searching import space_candidate
    from onnxscore.spaces import get_space

    sp = get_space("nb201")
    rng = np.random.default_rng(seed)
    encs = list(dict.fromkeys(sp.to_str(sp.sample(rng)) for _ in range(n)))
    return [space_candidate("nb201", sp, {}, e, 0) for e in encs]


def test_rank_combines_within_the_candidates_given(tmp_path):
    from onnxscore.engine import RankSettings, rank

    cands = _nb201_cands(8)
    res = rank(cands, RankSettings(proxies=(NAME,)), store=tmp_path / "s.sqlite", workers=0, progress=False)
    assert res.proxies == (NAME, "layers", "flops")
    rows = res.rows
    want = combine(NAME, {"layers": [r["layers"] for r in rows], "flops": [r["flops"] for r in rows]})
    assert [r[NAME] for r in rows] == pytest.approx(want)
    assert [r[f"{NAME}_rank"] for r in rows] == sorted(r[f"{NAME}_rank"] for r in rows)  # ranked by it
    # relative to the set: the same candidate in a smaller set has another value
    sub = rank(cands[:3], RankSettings(proxies=(NAME,)), store=tmp_path / "s.sqlite", workers=0, progress=False)
    assert sub.scored == 0  # members came from the store
    by = {r["key"]: r[NAME] for r in rows}
    assert any(r[NAME] != pytest.approx(by[r["key"]]) for r in sub.rows)


def test_evaluate_combines_within_the_evaluated_rows(tmp_path):
    from onnxscore.evaluation import evaluate_space, kendall

    ev = evaluate_space("nb201", "cifar10", sample=12, seed=5, proxies=NAME, store=tmp_path / "e.sqlite",
                        workers=0, progress=False)
    assert ev.proxies[:3] == [NAME, "layers", "flops"] or list(ev.results)[:3] == [NAME, "layers", "flops"]
    use = [r for r in ev.rows if r["done"]]
    want = combine(NAME, {m: [r["scores"][m] for r in use] for m in ("layers", "flops")})
    assert [r["scores"][NAME] for r in use] == pytest.approx(want)
    assert ev.results[NAME]["kendall"] == pytest.approx(kendall(want, [r["accuracy"] for r in use]))
    assert ev.settings["ensembles"][NAME]["members"] == ["layers", "flops"]


def test_search_ranks_within_every_candidate_it_has_evaluated(tmp_path):
    from onnxscore.searching import search

    res = search("nb201", algo="evolution", proxy=NAME, budget=14, seed=2, store=tmp_path / "s.sqlite",
                 population=6, tournament=3)
    hist = res.history
    want = combine(NAME, {m: [ev.scores[m] for ev in hist] for m in ("layers", "flops")})
    assert [ev.score for ev in hist] == pytest.approx(want)
    assert res.score == pytest.approx(max(want))
    assert "every candidate the search has evaluated" in res.settings["ensemble"]["relative_to"]


def test_the_cli_takes_an_ensemble_as_a_proxy(tmp_path, capsys):
    import json

    store, out = str(tmp_path / "c.sqlite"), tmp_path / "rows.json"
    assert main(["rank", "--space", "nb201", "--sample", "5", "-p", NAME, "--workers", "0", "--store", store,
                 "--json", str(out)]) == 0
    assert NAME in capsys.readouterr().out.splitlines()[0]  # the table's first column after the model
    rows = json.loads(out.read_text())
    want = combine(NAME, {m: [r[m] for r in rows] for m in ("layers", "flops")})
    assert [r[NAME] for r in rows] == pytest.approx(want) and want == sorted(want, reverse=True)
    assert main(["evaluate", "--space", "nb201", "--dataset", "cifar10", "--sample", "6", "-p", NAME,
                 "--workers", "0", "--store", store, "--json", "-q"]) == 0
    ev = json.loads(capsys.readouterr().out)
    assert NAME in ev["results"] and ev["settings"]["ensembles"][NAME]["rule"] == "log_rank_sum"
