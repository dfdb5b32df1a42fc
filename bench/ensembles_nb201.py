"""Ensembles on NAS-Bench-201: choose on a development sample, then report on the protocol samples.

    python bench/ensembles_nb201.py dev        # candidates on 200 dev architectures, CIFAR-10 *validation* acc.
    python bench/ensembles_nb201.py protocol --datasets cifar10,cifar100,ImageNet16-120 --sample 1000
    python bench/ensembles_nb201.py report     # markdown tables from the JSON files
    python bench/ensembles_nb201.py dev-select --dataset ImageNet16-120   # members chosen per dataset (below)
    python bench/ensembles_nb201.py protocol --datasets ImageNet16-120 --proxies ensemble_in16   # added to its JSON

The split. Development architectures: rows default_rng(7).permutation(15625) of nb201_accuracies.csv,
skipping every row of the protocol samples (default_rng(2026).choice(15625, n) for n = 300 and 1,000), first
200 kept; they are scored against cifar10_valid_acc (the 12-epoch-split validation accuracy, never a test
column). The candidate ensembles below were written down before the dev run; `dev` ranks them by dev Kendall
and records the winner, which onnxscore.proxies.ensemble.builtin registers as `ensemble`. `protocol` then
evaluates the fixed ensembles on the protocol samples (test accuracies, like every README table).
Every proxy scores the same stores (one per dataset), so reruns are resumable and cost nothing twice.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "bench" / "results"
DEV_OUT = RESULTS / "ensembles_nb201_dev.json"
STORE_DIR = Path(os.environ.get("STORE_DIR", "/work/stores"))
DEV_SEED, DEV_N, PROTOCOL_SEED = 7, 200, 2026
SINGLES = ["epads", "naswot", "jacov", "flops", "layers", "vkdnw_dim", "vkdnw_entropy",
           "az_expressivity", "az_progressivity", "az_trainability"]
V = ("vkdnw_dim", "vkdnw_entropy")
# name -> (members, rule); fixed before the dev run (see the module docstring)
CANDIDATES = {
    "cand_az_epads": (["flops", "az_expressivity", "az_progressivity", "az_trainability", "epads"], "log_rank_sum"),
    "cand_vkagg_epads": ([V, "az_expressivity", "az_trainability", "flops", "jacov", "epads"], "log_rank_sum"),
    "cand_all": ([V, "az_expressivity", "az_progressivity", "az_trainability", "flops", "jacov", "epads"],
                 "log_rank_sum"),
    "cand_all_naswot": ([V, "az_expressivity", "az_progressivity", "az_trainability", "flops", "jacov", "epads",
                         "naswot"], "log_rank_sum"),
    "cand_all_mean": ([V, "az_expressivity", "az_progressivity", "az_trainability", "flops", "jacov", "epads"],
                      "mean_rank"),
    "cand_all_z": ([V, "az_expressivity", "az_progressivity", "az_trainability", "flops", "jacov", "epads"],
                   "zsum"),
    "cand_vk_az_epads": ([V, "az_expressivity", "az_progressivity", "az_trainability", "epads"], "log_rank_sum"),
    # without the Fisher spectrum (its cost grows with the number of classes); layers ranks like vkdnw_dim here
    "cand_cheap": (["layers", "az_expressivity", "az_progressivity", "az_trainability", "flops", "jacov", "epads"],
                   "log_rank_sum"),
    "cand_cheap_nojacov": (["layers", "az_expressivity", "az_progressivity", "az_trainability", "flops", "epads"],
                           "log_rank_sum"),
}
# The selection rule, fixed with the list: the highest dev Kendall; any candidate within TIE of it that
# needs no vkdnw_entropy (the member whose cost grows with the classes) is preferred, fewest members first.
TIE = 0.005
PUBLISHED = {"vkdnw_agg": (0.750, 0.753, 0.743), "az_nas": (0.712, 0.696, 0.673), "layers": (0.626, 0.646, 0.623),
             "flops": (0.623, 0.586, 0.545), "jacov": (0.616, 0.639, 0.602), "naswot": (0.571, 0.607, 0.605),
             "vkdnw_single": (0.618, 0.634, 0.622)}
DATASETS = ("cifar10", "cifar100", "ImageNet16-120")
SETTINGS = dict(batch_size=128, sigma=1.0, batch_seed=2027, noise_seed=0, grad_batch_size=64)


def _register_candidates() -> None:
    from onnxscore.proxies.ensemble import register_ensemble

    for name, (members, rule) in CANDIDATES.items():
        register_ensemble(name, members, rule, replace=True)


def dev_items():
    """The 200 development architectures with their CIFAR-10 validation accuracy."""
    import numpy as np

    from onnxscore.evaluation import benchmark_of, sample_rows

    bench = benchmark_of("nb201", "cifar10")
    items, info = bench.items(None, 0, 0)
    protocol = set(sample_rows(len(items), 1000, PROTOCOL_SEED)) | set(sample_rows(len(items), 300, PROTOCOL_SEED))
    rows = list(bench.table(None).values())
    keep = [int(i) for i in np.random.default_rng(DEV_SEED).permutation(len(items)) if int(i) not in protocol][:DEV_N]
    out = [replace(items[i], accuracy=float(rows[i]["cifar10_valid_acc"])) for i in keep]
    info = {**info, "accuracy": "cifar10_valid_acc (validation, never a test column)", "sample": DEV_N,
            "sample_rule": f"default_rng({DEV_SEED}).permutation(15625) minus the protocol rows "
                           f"(default_rng({PROTOCOL_SEED}).choice(15625, 300 and 1000)), first {DEV_N}"}
    return out, info, keep


def dataset_dev_items(dataset: str):
    """The same 200 development architectures, built for `dataset`, with that dataset's accuracy of each:
    CIFAR-10's validation column for cifar10 (as `dev`), else the dataset's test column. The table has no
    validation column for CIFAR-100 or ImageNet16-120; these rows are disjoint from every protocol row, so
    choosing on them sees no accuracy the protocol tables report."""
    from onnxscore.evaluation import space_items

    if dataset == "cifar10":
        return dev_items()
    _, _, keep = dev_items()
    items, info = space_items("nb201", dataset, None, 0, 0)
    info = {**info, "accuracy": f"{dataset} test accuracy of the development rows (disjoint from the protocol)",
            "sample": DEV_N, "sample_rule": f"the rows of `dev` (default_rng({DEV_SEED}).permutation(15625) minus "
                                            f"the protocol rows, first {DEV_N})"}
    return [items[i] for i in keep], info, keep


# The per-dataset selection, fixed before its dev run: onnxscore.select_ensemble (greedy forward selection,
# AZ-NAS's log-rank sum, a member joins only if it adds >= MIN_GAIN dev Kendall) over every single member
# the fixed candidates draw on, VKDNW's (dim, entropy) pair kept as one lexicographic member.
SELECT_POOL = [V] + [p for p in SINGLES if p not in V]
MIN_GAIN = 0.005


def cmd_dev_select(args) -> None:
    from onnxscore import select_ensemble
    from onnxscore.evaluation import benchmark_of, kendall, run
    from onnxscore.proxies import registry
    from onnxscore.proxies.ensemble.select import ensemble_values

    items, info, keep = dataset_dev_items(args.dataset)
    t0 = time.perf_counter()
    ev = run(items, args.dataset, info, proxies=SINGLES, store=STORE_DIR / f"ensembles-dev-{args.dataset}.sqlite",
             workers=args.workers, image_size=benchmark_of("nb201", args.dataset).image_size(), **SETTINGS)
    acc = [r["accuracy"] for r in ev.rows]
    table = {p: [r["scores"].get(p) for r in ev.rows] for p in SINGLES}
    sel = select_ensemble(table, acc, SELECT_POOL, rule="log_rank_sum", min_gain=MIN_GAIN)
    fixed = registry.get("ensemble")
    fixed_k = kendall(ensemble_values(list(fixed.members), table, fixed.rule), acc)
    out = {"meta": {**_meta(), "elapsed_s": round(time.perf_counter() - t0, 1)}, "info": info,
           "pool": [list(m) if isinstance(m, tuple) else m for m in SELECT_POOL], "min_gain": MIN_GAIN,
           "selection": sel.to_dict(),
           "ensemble_dev_kendall": fixed_k, "results": ev.results, "settings": ev.settings,
           "rows": [{"row": i, "label": r["label"], "accuracy": r["accuracy"],
                     "scores": {p: r["scores"].get(p) for p in SINGLES}} for i, r in zip(keep, ev.rows)]}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"ensembles_nb201_dev_select-{args.dataset}.json").write_text(json.dumps(out, indent=1, sort_keys=True, default=str) + "\n")
    for p in SINGLES:
        print(f"{p:18s} kendall {ev.results[p]['kendall']:.4f}")
    print(f"`ensemble` on this dev sample: {fixed_k:.4f}")
    print(f"selected: {out['selection']['members']} ({sel.rule}), dev kendall {sel.kendall:.4f}")


def _meta() -> dict:
    import onnxruntime

    return {"host": platform.node(), "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "onnxruntime": onnxruntime.__version__, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def cmd_dev(args) -> None:
    from onnxscore.evaluation import run

    _register_candidates()
    items, info, rows = dev_items()
    proxies = list(CANDIDATES) + ["az_nas", "vkdnw_agg", "vkdnw_single"] + SINGLES
    t0 = time.perf_counter()
    ev = run(items, "cifar10", info, proxies=proxies, store=STORE_DIR / "ensembles-dev-cifar10.sqlite",
             workers=args.workers, **SETTINGS)
    results = {p: ev.results[p] for p in ev.results}
    ranked = sorted(CANDIDATES, key=lambda c: -(results[c]["kendall"] or -1))
    best = results[ranked[0]]["kendall"]
    cheap = [c for c in ranked if results[c]["kendall"] >= best - TIE and "vkdnw_entropy" not in str(CANDIDATES[c][0])]
    if cheap:
        chosen = min(cheap, key=lambda c: len(CANDIDATES[c][0]))
        ranked = [chosen] + [c for c in ranked if c != chosen]
    out = {"meta": {**_meta(), "elapsed_s": round(time.perf_counter() - t0, 1)}, "info": info, "rows": rows,
           "results": results, "candidates": {k: {"members": [list(m) if isinstance(m, tuple) else m for m in v[0]],
                                                   "rule": v[1]} for k, v in CANDIDATES.items()},
           "chosen": ranked[0], "settings": ev.settings}
    RESULTS.mkdir(parents=True, exist_ok=True)
    DEV_OUT.write_text(json.dumps(out, indent=1, sort_keys=True, default=str) + "\n")
    for p in proxies:
        print(f"{p:18s} kendall {results[p]['kendall']:.4f}  spearman {results[p]['spearman']:.4f}")
    print("chosen:", ranked[0])


def cmd_protocol(args) -> None:
    from onnxscore.evaluation import evaluate_space

    proxies = args.proxies.split(",") if args.proxies else ["ensemble", "az_nas", "vkdnw_agg", "vkdnw_single"] + SINGLES
    for ds in args.datasets.split(","):
        t0 = time.perf_counter()
        ev = evaluate_space("nb201", ds, sample=args.sample, seed=PROTOCOL_SEED, proxies=proxies,
                            store=STORE_DIR / f"ensembles-{ds}-{args.sample}.sqlite", workers=args.workers,
                            **SETTINGS)
        path = RESULTS / f"ensembles_nb201-{ds}-{args.sample}.json"
        got = {"meta": {**_meta(), "elapsed_s": round(time.perf_counter() - t0, 1)}, **ev.to_dict(),
               "rows": protocol_rows(ev)}
        if args.proxies and path.exists():
            got = merge_protocol(json.loads(path.read_text()), got, proxies)
        path.write_text(json.dumps(got, indent=1, sort_keys=True, default=str) + "\n")
        print(ev.text())


def protocol_rows(ev) -> list[dict]:
    """Each architecture's label, accuracy and member scores, so an ensemble of them can be recomputed
    (ensemble_values) without rescoring; an ensemble's value there is relative to this sample."""
    return [{"label": r["label"], "accuracy": r["accuracy"], "scores": dict(r["scores"])} for r in ev.rows]


def merge_protocol(earlier: dict, later: dict, proxies: list[str]) -> dict:
    """`later`'s proxies added to `earlier`'s run of the same sample; each later run appends its own meta and
    settings to "added" (the earlier run's stay at the top), and the rows join by architecture."""
    if earlier.get("n") != later.get("n") or earlier.get("dataset") != later.get("dataset"):
        raise SystemExit("the runs to merge score different samples or datasets")
    out = dict(earlier)
    for key in ("results", "nulls"):
        out[key] = {**earlier.get(key, {}), **{p: v for p, v in later.get(key, {}).items() if p in proxies}}
    if earlier.get("rows") and later.get("rows"):
        if [r["label"] for r in earlier["rows"]] != [r["label"] for r in later["rows"]]:
            raise SystemExit("the runs to merge list their architectures in different orders")
        out["rows"] = [{**a, "scores": {**a["scores"], **b["scores"]}} for a, b in zip(earlier["rows"], later["rows"])]
    elif later.get("rows"):
        out["rows"] = later["rows"]
    out["added"] = earlier.get("added", []) + [{"proxies": ",".join(proxies), "meta": later["meta"], "settings": later["settings"],
                             "notes": later["notes"], "scored": later.get("scored"), "cached": later.get("cached")}]
    return out


def cmd_report(args) -> None:
    dev = json.loads(DEV_OUT.read_text()) if DEV_OUT.exists() else None
    lines = []
    if dev:
        lines += [f"Development sample: {dev['info']['sample_rule']}; accuracy {dev['info']['accuracy']}.", "",
                  "| candidate | members | rule | dev Kendall | dev Spearman |", "|---|---|---|---|---|"]
        for k, v in sorted(dev["candidates"].items(), key=lambda kv: -(dev["results"][kv[0]]["kendall"] or -1)):
            r = dev["results"][k]
            mem = ", ".join("(" + ", ".join(m) + ")" if isinstance(m, list) else m for m in v["members"])
            lines.append(f"| {k}{' (chosen)' if k == dev['chosen'] else ''} | {mem} | {v['rule']} | "
                         f"{r['kendall']:.3f} | {r['spearman']:.3f} |")
        lines.append("")
    for n in (1000, 300):
        got = {ds: json.loads(p.read_text()) for ds in DATASETS
               if (p := RESULTS / f"ensembles_nb201-{ds}-{n}.json").exists()}
        if not got:
            continue
        names = next(iter(got.values()))["results"].keys()
        lines += [f"NAS-Bench-201, {n}-architecture protocol sample (Kendall tau; published in brackets):", "",
                  "| proxy | " + " | ".join(got) + " |", "|---|" + "---|" * len(got)]
        for p in names:
            cells = []
            for i, ds in enumerate(got):
                k = got[ds]["results"][p]["kendall"]
                pub = PUBLISHED.get(p)
                cells.append(("-" if k is None else f"{k:.3f}") + (f" ({pub[DATASETS.index(ds)]:.3f})" if pub else ""))
            lines.append(f"| {p} | " + " | ".join(cells) + " |")
        lines.append("")
    text = "\n".join(lines)
    (RESULTS / "ensembles_nb201.md").write_text(text + "\n")
    print(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dev")
    d.add_argument("--workers", type=int, default=2)
    p = sub.add_parser("protocol")
    p.add_argument("--datasets", default=",".join(DATASETS))
    p.add_argument("--sample", type=int, default=1000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--proxies", help="only these (comma-separated), added to the dataset's existing JSON")
    sub.add_parser("report")
    s = sub.add_parser("dev-select", help="choose members for one dataset on the dev rows, scored for it")
    s.add_argument("--dataset", default="ImageNet16-120", choices=DATASETS)
    s.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    {"dev": cmd_dev, "protocol": cmd_protocol, "report": cmd_report, "dev-select": cmd_dev_select}[args.cmd](args)


if __name__ == "__main__":
    main()
