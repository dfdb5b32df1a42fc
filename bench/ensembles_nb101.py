"""NAS-Bench-101: every proxy and ensemble next to NASLib's precomputed proxies on the same cells.

    python bench/ensembles_nb101.py run              # score the 301 distinct networks (resumable store)
    python bench/ensembles_nb101.py run --gradient   # also onnxscore's gradient proxies
    python bench/ensembles_nb101.py run --only-gradient   # just those, merged into the JSON of an earlier run
    python bench/ensembles_nb101.py run --only-gradient --proxies snip,synflow   # some of them, merged likewise
    python bench/ensembles_nb101.py report           # the markdown table from the JSON file
    python bench/ensembles_nb101.py naslib           # NASLib's columns alone (no scoring) and the networks' MACs

The cells are NASLib's 500 NAS-Bench-101 rows (nb101_zc_naslib.csv); rows that prune to the same network
are one network with the mean of their validation accuracies (onnxscore.spaces.nb101_benchmark), so 301
networks are ranked. NASLib's columns are averaged over the same rows, then correlated with the same
accuracies. The ensembles are the ones fixed on NAS-Bench-201's development sample
(bench/ensembles_nb201.py); nothing here was chosen on NAS-Bench-101.
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
    return [{"label": r["label"], "accuracy": r["accuracy"], "scores": {p: r["scores"].get(p) for p in proxies}}
            for r in ev.rows]


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
    out["rows"] = [{**a, "scores": {**a["scores"], **b["scores"]}} for a, b in zip(earlier["rows"], later["rows"])]
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
    args = ap.parse_args()
    {"run": cmd_run, "report": cmd_report, "naslib": cmd_naslib}[args.cmd](args)


if __name__ == "__main__":
    main()
