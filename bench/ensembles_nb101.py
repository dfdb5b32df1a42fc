"""NAS-Bench-101: every proxy and ensemble next to NASLib's precomputed proxies on the same cells.

    python bench/ensembles_nb101.py run              # score the 301 distinct networks (resumable store)
    python bench/ensembles_nb101.py run --gradient   # also onnxscore's gradient proxies
    python bench/ensembles_nb101.py run --only-gradient   # just those, merged into the JSON of an earlier run
    python bench/ensembles_nb101.py run --only-gradient --proxies snip,synflow   # some of them, merged likewise
    python bench/ensembles_nb101.py report           # the markdown table from the JSON file
    python bench/ensembles_nb101.py naslib           # NASLib's columns alone (no scoring) and the networks' MACs
    python bench/ensembles_nb101.py select           # members chosen on half the networks, reported on the other

The cells are NASLib's 500 NAS-Bench-101 rows (nb101_zc_naslib.csv); rows that prune to the same network
are one network with the mean of their validation accuracies (onnxscore.spaces.nb101_benchmark), so 301
networks are ranked. NASLib's columns are averaged over the same rows, then correlated with the same
accuracies. The named ensembles are the ones fixed on NAS-Bench-201's development sample
(bench/ensembles_nb201.py); `run` chooses nothing on NAS-Bench-101. `select` does, by cross-validation: members
are chosen greedily on a random half of the networks (onnxscore.proxies.ensemble.select) and every ranking is
reported on the other half, from the scores `run` saved (no scoring).
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.ensembles_nb201 import RESULTS, SETTINGS, SINGLES, STORE_DIR, _meta  # noqa: E402

OUT = RESULTS / "ensembles_nb101.json"
SELECT_OUT = RESULTS / "ensembles_nb101_select.json"
# the cross-validated selection, fixed before its first run: 5 random halvings (seeds 2026-2030), each half the
# development sample of the other, greedy forward selection under log_rank_sum with a minimum gain of 0.005
CV_REPEATS, CV_SEED, CV_MIN_GAIN = 5, 2026, 0.005
ENSEMBLES = ["ensemble", "az_nas", "vkdnw_agg", "vkdnw_single"]
ACTIVATION = ["swap"]  # epads and naswot are among the singles
# ntk_cond is left out: one backward pass per sample, on 128-channel networks the costliest proxy by far
GRADIENT = ["fisher", "grad_norm", "grasp", "l2_norm", "ntk_trace", "plain", "snip", "synflow", "zico"]
NASLIB = ["flops", "params", "synflow", "jacov", "snip", "grad_norm", "grasp", "fisher", "epe_nas", "l2_norm",
          "plain"]


def naslib_columns(labels: list[str], path: Path | None = None) -> dict:
    """{column: [mean of NASLib's value over the CSV rows of each network]} in the order of `labels`
    (evaluate's "first row:cell" labels); `path`: the CSV [default: the shared data's]."""
    from onnxscore.spaces.nb101_benchmark import default_table_path, load_table

    path = Path(path) if path is not None else default_table_path()
    raw = list(csv.DictReader(path.open(newline="")))
    table = load_table(path)
    by_first = {e["rows"][0]: e for e in table.values()}
    out = {c: [] for c in NASLIB}
    for label in labels:
        rows = by_first[int(label.split(":", 1)[0])]["rows"]
        for c in NASLIB:
            vals = [float(raw[r][c]) for r in rows if raw[r].get(c) not in (None, "")]
            out[c].append(sum(vals) / len(vals) if vals else None)
    return out


def _rows(ev, proxies) -> list[dict]:
    """Per network: its label, accuracy and each proxy's score (None: null), so a table can be rechecked."""
    return [{"label": r["label"], "accuracy": r["accuracy"], "params": r["params"],
             "scores": {p: r["scores"].get(p) for p in proxies}} for r in ev.rows]


def merge(earlier: dict, later: dict) -> dict:
    """`later` (a run of other proxies on the same networks) added to `earlier`: its metrics, nulls and scores;
    refused when the two runs did not rank the same networks or used different settings."""
    if [r["label"] for r in earlier["rows"]] != [r["label"] for r in later["rows"]]:
        raise SystemExit("the two runs ranked different networks; rerun `run` without --only-gradient")
    keys = ("batch_size", "sigma", "noise_seed", "batch_seed", "grad_batch_size", "build_seed", "bn", "init",
            "activations", "data", "onnxscore")
    if any(earlier["settings"].get(k) != later["settings"].get(k) for k in keys):
        raise SystemExit("the two runs used different settings; rerun `run` without --only-gradient")
    out = dict(earlier)
    out["results"] = {**earlier["results"], **{p: r for p, r in later["results"].items() if p != "params"}}
    out["nulls"] = {**earlier.get("nulls", {}), **later.get("nulls", {})}
    out["settings"] = {**earlier["settings"], "proxies": list(dict.fromkeys(
        earlier["settings"].get("proxies", []) + later["settings"].get("proxies", [])))}
    out["rows"] = [{**a, "params": a.get("params", b.get("params")), "scores": {**a["scores"], **b["scores"]}}
                   for a, b in zip(earlier["rows"], later["rows"])]
    out["meta"] = {**earlier["meta"], "merged": earlier["meta"].get("merged", []) + [later["meta"]]}
    return out


def chosen_proxies(gradient: bool, only_gradient: bool, subset: str | None) -> list[str]:
    """The proxies a `run` scores: everything (the gradient family with `gradient`), or with `only_gradient`
    the gradient family or the comma-separated `subset` of it."""
    if subset and not only_gradient:
        raise SystemExit("--proxies goes with --only-gradient")
    if not only_gradient:
        return ENSEMBLES + SINGLES + ACTIVATION + (GRADIENT if gradient else [])
    proxies = [p.strip() for p in subset.split(",") if p.strip()] if subset else list(GRADIENT)
    unknown = [p for p in proxies if p not in GRADIENT]
    if unknown or not proxies:
        raise SystemExit(f"--proxies takes gradient proxies ({', '.join(GRADIENT)}), not {', '.join(unknown) or 'none'}")
    return proxies


def cmd_run(args) -> None:
    from onnxscore.evaluation import evaluate_space, metrics

    proxies = chosen_proxies(args.gradient, args.only_gradient, args.proxies)
    if args.only_gradient and not OUT.exists():
        raise SystemExit(f"--only-gradient adds to {OUT}, which does not exist yet: run `run` first")
    t0 = time.perf_counter()
    ev = evaluate_space("nb101", "cifar10", sample=None, proxies=proxies, workers=args.workers,
                        store=STORE_DIR / "ensembles-nb101.sqlite", **SETTINGS)
    labels = [r["label"] for r in ev.rows]
    accs = [r["accuracy"] for r in ev.rows]
    naslib = {c: metrics(v, accs) for c, v in naslib_columns(labels).items()}
    got = {"meta": {**_meta(), "elapsed_s": round(time.perf_counter() - t0, 1), "proxies": proxies},
           **ev.to_dict(), "naslib": naslib, "rows": _rows(ev, proxies)}
    if args.only_gradient:
        got = merge(json.loads(OUT.read_text()), got)
    OUT.write_text(json.dumps(got, indent=1, sort_keys=True, default=str) + "\n")
    print(ev.text())
    cmd_report(args)


def candidate_pool(rows: list[dict]) -> list[str]:
    """Every single proxy with a score column in `rows`, then param_count (the params baseline as a proxy, so
    that a chosen ensemble can be registered as it is); ensembles are not candidates."""
    from onnxscore.proxies import registry

    names = sorted({p for r in rows for p in r["scores"]} - {"param_count"})
    singles = [p for p in names if not registry.get(p).is_ensemble]
    return singles + (["param_count"] if all(r.get("params") is not None for r in rows) else [])


def _column(rows: list[dict], idx, proxy: str) -> list:
    return [rows[i]["params"] if proxy == "param_count" else rows[i]["scores"].get(proxy) for i in idx]


def cross_validate(rows: list[dict], repeats: int = CV_REPEATS, seed: int = CV_SEED,
                   min_gain: float = CV_MIN_GAIN) -> dict:
    """Members chosen on one random half of the networks, every ranking reported on the other half, both ways
    round, `repeats` times: no accuracy of a test half takes part in choosing what is reported on it."""
    import numpy as np

    from onnxscore.evaluation import kendall
    from onnxscore.proxies.ensemble.select import ensemble_values, greedy_select

    pool = candidate_pool(rows)
    folds = []
    for r in range(repeats):
        perm = np.random.default_rng(seed + r).permutation(len(rows))
        halves = (sorted(perm[: len(rows) // 2]), sorted(perm[len(rows) // 2:]))
        for dev, test in (halves, halves[::-1]):
            dev_acc, test_acc = [rows[i]["accuracy"] for i in dev], [rows[i]["accuracy"] for i in test]
            test_table = {p: _column(rows, test, p) for p in pool}
            sel = greedy_select({p: _column(rows, dev, p) for p in pool}, dev_acc, pool, min_gain=min_gain)
            singles = {p: kendall(test_table[p], test_acc) for p in pool}
            best = max((p for p in pool if singles[p] is not None), key=lambda p: singles[p])
            folds.append({"repeat": r, "seed": seed + r, "dev_n": len(dev), "test_n": len(test),
                          "selection": sel.to_dict(),
                          "ensemble": kendall(ensemble_values(sel.members, test_table, sel.rule), test_acc),
                          "dev_best_single": [sel.members[0], singles[sel.members[0]]],
                          "test_best_single": [best, singles[best]], "singles": singles})
    ens = [f["ensemble"] for f in folds]
    mean_single = {p: float(np.mean([f["singles"][p] for f in folds if f["singles"][p] is not None]))
                   for p in pool if any(f["singles"][p] is not None for f in folds)}
    top = max(mean_single, key=mean_single.get)
    used: dict = {}
    for f in folds:
        for m in f["selection"]["members"]:
            used[str(m)] = used.get(str(m), 0) + 1
    return {"rule": "greedy forward selection (onnxscore.proxies.ensemble.select), log_rank_sum, min gain "
                    f"{min_gain}; halves: numpy.random.default_rng(seed).permutation(n), seeds {seed}-{seed + repeats - 1}",
            "pool": pool, "folds": folds,
            "summary": {"ensemble_mean": float(np.mean(ens)), "ensemble_std": float(np.std(ens)),
                        "dev_best_single_mean": float(np.mean([f["dev_best_single"][1] for f in folds])),
                        "best_single_by_mean": [top, mean_single[top]], "single_means": mean_single,
                        "wins_over_test_best_single": sum(f["ensemble"] > f["test_best_single"][1] for f in folds),
                        "wins_over_params": sum(f["ensemble"] > f["singles"].get("param_count", -2) for f in folds),
                        "folds": len(folds), "members_used": dict(sorted(used.items(), key=lambda kv: -kv[1]))}}


def with_params(rows: list[dict]) -> list[dict]:
    """Each row's params, from the space's closed-form count of its cell where the JSON has none."""
    from onnxscore.spaces import get_space

    space = get_space("nb101")
    for r in rows:
        if r.get("params") is None:
            r["params"] = space.params(space.from_str(r["label"].split(":", 1)[1]))
    return rows


def cmd_select(args) -> None:
    got = json.loads(OUT.read_text())
    with_params(got["rows"])
    t0 = time.perf_counter()
    cv = cross_validate(got["rows"], args.repeats, args.seed, args.min_gain)
    cv["meta"] = {**_meta(), "elapsed_s": round(time.perf_counter() - t0, 1), "scores_from": OUT.name}
    SELECT_OUT.write_text(json.dumps(cv, indent=1, sort_keys=True, default=str) + "\n")
    text = select_report(cv)
    (RESULTS / "ensembles_nb101_select.md").write_text(text + "\n")
    print(text)


def select_report(cv: dict) -> str:
    s = cv["summary"]
    lines = [f"NAS-Bench-101, {cv['rule']}. Kendall tau on the test half of each fold:", "",
             "| fold | members chosen on the dev half (in order) | ensemble | dev-best single | test-best single |",
             "|---|---|---|---|---|"]
    for f in cv["folds"]:
        mem = ", ".join(m if isinstance(m, str) else "(" + ",".join(m) + ")" for m in f["selection"]["members"])
        d, t = f["dev_best_single"], f["test_best_single"]
        lines.append(f"| {f['seed']} ({f['dev_n']}/{f['test_n']}) | {mem} | {f['ensemble']:.3f} | "
                     f"{d[0]} {d[1]:.3f} | {t[0]} {t[1]:.3f} |")
    lines += ["", f"Mean over {s['folds']} folds: ensemble {s['ensemble_mean']:.3f} (std {s['ensemble_std']:.3f}); "
              f"the single proxy chosen on the dev half {s['dev_best_single_mean']:.3f}; the best single proxy by "
              f"mean test Kendall, {s['best_single_by_mean'][0]}, {s['best_single_by_mean'][1]:.3f}. The ensemble "
              f"beats the best single proxy of the test half itself in {s['wins_over_test_best_single']} of "
              f"{s['folds']} folds, param_count (the params baseline) in {s['wins_over_params']}.",
              "", "Members chosen, in how many folds: " + ", ".join(f"{k} {v}" for k, v in s["members_used"].items())]
    return "\n".join(lines)


def cmd_naslib(args) -> None:
    """NASLib's columns on the 301 networks, and the median MACs of these and of NB201's protocol sample."""
    import numpy as np

    from onnxscore.evaluation import benchmark_of, metrics, sample_rows
    from onnxscore.spaces import get_space
    from onnxscore.spaces.nb101_benchmark import load_table

    table = load_table()
    labels = [f"{e['rows'][0]}:{e['encoding']}" for e in table.values()]
    accs = [e["accuracy"] for e in table.values()]
    for c, v in naslib_columns(labels).items():
        r = metrics(v, accs)
        print(f"{c:10s} kendall {r['kendall']:.3f}  spearman {r['spearman']:.3f}")
    nb101, nb201 = get_space("nb101"), get_space("nb201")
    m101 = [nb101.macs(nb101.from_str(e["encoding"])) for e in table.values()]
    archs = list(benchmark_of("nb201", "cifar10").table(None))  # the accuracy table's rows, in order
    m201 = [nb201.macs(archs[int(i)]) for i in sample_rows(len(archs), 1000, 2026)]
    print(f"median MACs per image: NB101 {np.median(m101) / 1e6:.1f} M ({len(m101)} networks), "
          f"NB201 {np.median(m201) / 1e6:.1f} M (the 1,000 protocol sample)")


def cmd_report(args) -> None:
    got = json.loads(OUT.read_text())
    ours, naslib = got["results"], got["naslib"]
    lines = [f"NAS-Bench-101, {got['n']} distinct networks of NASLib's 500 cells (Kendall tau / Spearman rho "
             "against the mean validation accuracy of each network's rows):", "",
             "| proxy | onnxscore | NASLib's precomputed column |", "|---|---|---|"]

    def f(r):
        return "-" if not r or r.get("kendall") is None else f"{r['kendall']:.3f} / {r['spearman']:.3f}"
    for p in list(ours) + [c for c in NASLIB if c not in ours]:
        lines.append(f"| {p} | {f(ours.get(p)) if p in ours else '-'} | {f(naslib.get(p)) if p in naslib else '-'} |")
    text = "\n".join(lines)
    (RESULTS / "ensembles_nb101.md").write_text(text + "\n")
    print(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--workers", type=int, default=2)
    r.add_argument("--gradient", action="store_true", help="also fisher, grad_norm, grasp, ... (adds their cost)")
    r.add_argument("--only-gradient", action="store_true",
                   help="score only the gradient proxies and add them to the JSON file of an earlier run")
    r.add_argument("--proxies", help="with --only-gradient: a comma-separated subset of the gradient proxies "
                                     "(grasp alone is about 28 s per network here)")
    sub.add_parser("report")
    sub.add_parser("naslib")
    c = sub.add_parser("select", help="choose members on half the networks, report on the other half")
    c.add_argument("--repeats", type=int, default=CV_REPEATS)
    c.add_argument("--seed", type=int, default=CV_SEED)
    c.add_argument("--min-gain", type=float, default=CV_MIN_GAIN)
    args = ap.parse_args()
    {"run": cmd_run, "report": cmd_report, "naslib": cmd_naslib, "select": cmd_select}[args.cmd](args)


if __name__ == "__main__":
    main()
