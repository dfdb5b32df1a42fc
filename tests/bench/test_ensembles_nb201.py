"""bench/ensembles_nb201.py: the per-dataset development rows are the dev rows, disjoint from the protocol."""
import pytest

from bench import ensembles_nb201 as e


def test_dataset_dev_rows_are_the_dev_rows_and_miss_every_protocol_row(shared_data):
    from onnxscore.evaluation import benchmark_of, sample_rows

    items, info, keep = e.dataset_dev_items("ImageNet16-120")
    _, _, dev_keep = e.dev_items()
    assert keep == dev_keep and len(keep) == e.DEV_N == len(set(keep))
    protocol = set(sample_rows(15625, 1000, e.PROTOCOL_SEED)) | set(sample_rows(15625, 300, e.PROTOCOL_SEED))
    assert not protocol & set(keep)
    # each item is built for ImageNet16-120 and carries that dataset's accuracy of its own row
    rows = list(benchmark_of("nb201", "ImageNet16-120").table(None).values())
    assert all(dict(it.candidate.space[1])["dataset"] == "ImageNet16-120" for it in items)
    assert [it.accuracy for it in items] == [pytest.approx(float(rows[i]["imagenet16_acc"])) for i in keep]
    assert "test accuracy of the development rows" in info["accuracy"]


def test_selection_pool_keeps_vkdnw_as_one_member_and_every_other_single():
    assert e.SELECT_POOL[0] == e.V
    assert set(e.SELECT_POOL[1:]) == set(e.SINGLES) - set(e.V)


def _run(n=1000, dataset="ImageNet16-120", **results):
    return {"n": n, "dataset": dataset, "meta": {"date": "d"}, "settings": {"s": 1}, "notes": ["x"],
            "results": {p: {"kendall": k} for p, k in results.items()}, "nulls": {p: 0 for p in results}}


def test_merge_adds_only_the_later_proxies_and_keeps_their_provenance():
    earlier = _run(ensemble=0.7, epads=0.6)
    later = _run(ensemble_in16=0.75, epads=0.6, naswot=0.1)
    got = e.merge_protocol(earlier, later, ["ensemble_in16", "epads"])
    assert got["results"] == {"ensemble": {"kendall": 0.7}, "epads": {"kendall": 0.6},
                              "ensemble_in16": {"kendall": 0.75}}
    assert got["meta"] == earlier["meta"] and got["added"][0]["proxies"] == "ensemble_in16,epads"
    again = e.merge_protocol(got, later, ["ensemble_in16"])  # a rerun is appended, the first run kept
    assert [a["proxies"] for a in again["added"]] == ["ensemble_in16,epads", "ensemble_in16"]


def test_merge_refuses_runs_of_another_sample():
    with pytest.raises(SystemExit, match="different samples"):
        e.merge_protocol(_run(n=300), _run(), ["epads"])


def test_merge_joins_rows_by_architecture_and_refuses_another_order():
    earlier = {**_run(epads=0.6), "rows": [{"label": "a", "accuracy": 1, "scores": {"epads": 1.0}},
                                             {"label": "b", "accuracy": 2, "scores": {"epads": 2.0}}]}
    later = {**_run(jacov=0.5), "rows": [{"label": "a", "accuracy": 1, "scores": {"jacov": -1.0}},
                                           {"label": "b", "accuracy": 2, "scores": {"jacov": -2.0}}]}
    got = e.merge_protocol(earlier, later, ["jacov"])
    assert [r["scores"] for r in got["rows"]] == [{"epads": 1.0, "jacov": -1.0}, {"epads": 2.0, "jacov": -2.0}]
    later["rows"].reverse()
    with pytest.raises(SystemExit, match="different orders"):
        e.merge_protocol(earlier, later, ["jacov"])


def test_committed_in16_rows_reproduce_the_reported_ensemble_in16_kendall():
    import json

    from onnxscore.evaluation import kendall
    from onnxscore.proxies import registry
    from onnxscore.proxies.ensemble.select import ensemble_values

    got = json.loads((e.RESULTS / "ensembles_nb201-ImageNet16-120-1000.json").read_text())
    rows = got["rows"]
    members = list(registry.get("ensemble_in16").members)
    table = {p: [r["scores"].get(p) for r in rows] for p in members}
    k = kendall(ensemble_values(members, table), [r["accuracy"] for r in rows])
    assert len(rows) == got["n"] == 1000
    assert k == pytest.approx(got["results"]["ensemble_in16"]["kendall"], abs=1e-12)
