"""NAS-Bench-201 search experiment: what random search and regularised evolution find when guided by ePADS,
NASWOT, SWAP, the parameter count or random choice, judged by the 200-epoch test accuracy of the table.

Protocol (same settings as bench/reproduce_nb201.sh, so the stores are interchangeable): B = 128 real CIFAR-10
test images (rows default_rng(2027).choice(1000, 128) of cifar10_test_1000.npz, 2x2-pooled to 16x16 for
ImageNet16-120), sigma 1.0, noise seed 0, weights from build seed 0, BN batch statistics. Every architecture
a search visits is scored with epads, naswot and swap at once into ONE store, so a later search guided by
another proxy (or another repeat) finds it there. CIFAR-100 builds give the same proxy scores as CIFAR-10
builds (the 100-way head comes after the last ReLU; checked at start-up, see meta.c100_check), so a CIFAR-10
search is also the CIFAR-100 search: its arch is looked up in both accuracy columns.

    python bench/search_nb201.py run --budgets 100 --repeats 10          # resumable; appends to the JSON
    python bench/search_nb201.py report                                  # markdown table from the JSON
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "bench" / "results"
DEFAULT_STORE = "/work/stores/nb201.sqlite"
DEFAULT_OUT = RESULTS / "search_nb201.json"
SEARCH_DATASETS = ("cifar10", "ImageNet16-120")  # cifar100 = the cifar10 search (identical scores)
ACC_DATASETS = {"cifar10": ("cifar10", "cifar100"), "ImageNet16-120": ("ImageNet16-120",)}
PROXIES = ("epads", "naswot", "swap", "params", "random")
SCORED = ("epads", "naswot", "swap")
ALGOS = ("random", "evolution")
# Published NB201 search results (test accuracy %, mean ± std), Dong & Yang, ICLR 2020, Table 5.
PUBLISHED = [
    ("REA (regularised evolution, trained-accuracy guided), reported in the NB201 paper",
     {"cifar10": (93.92, 0.30), "cifar100": (71.84, 0.99), "ImageNet16-120": (45.54, 1.03)}),
    ("RS (random search, trained-accuracy guided), reported in the NB201 paper",
     {"cifar10": (93.70, 0.36), "cifar100": (71.04, 1.07), "ImageNet16-120": (44.57, 1.25)}),
    ("optimum of the space, reported in the NB201 paper",
     {"cifar10": (94.37, None), "cifar100": (73.51, None), "ImageNet16-120": (47.31, None)}),
]


def _load(path: Path) -> dict:
    if path.exists():
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    return {"meta": {}, "runs": []}


@functools.lru_cache(maxsize=1)
def _index_maps() -> tuple[dict, dict]:
    """arch string -> NB201 arch_index and back (rows of nb201_accuracies.csv)."""
    from onnxscore.spaces.nb201 import load_accuracies

    by_arch = {a: int(row["arch_index"]) for a, row in load_accuracies().items()}
    return by_arch, {i: a for a, i in by_arch.items()}


def _pack_archs(archs: list[str]) -> str:
    """Every architecture a search evaluated, as space-separated arch_index values: the results file stays
    ~1.5 MB instead of ~15 MB of arch strings."""
    by_arch, _ = _index_maps()
    return " ".join(str(by_arch[a]) for a in archs)


def _archs(run: dict) -> list[str]:
    """The evaluated architectures of a recorded search, in evaluation order ([] if not recorded)."""
    if "archs" in run:  # written by an older version of this script
        return run["archs"]
    _, by_index = _index_maps()
    return [by_index[int(i)] for i in run.get("arch_indices", "").split()]


def _save(path: Path, obj: dict) -> None:
    for r in obj.get("runs", []):
        if "archs" in r:
            r["arch_indices"] = _pack_archs(r.pop("archs"))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)


@contextlib.contextmanager
def _locked(path: Path):
    """Exclusive lock beside `path`, so several `run` processes (e.g. one per dataset) can share one results file."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(str(path) + ".lock", "w") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lk, fcntl.LOCK_UN)


def _record(out: Path, rec: dict, meta: dict, costs_file: Path, costs: dict) -> None:
    """Append one finished search to the results file and merge the cost map, re-reading both under the lock
    so records written meanwhile by another process are kept."""
    key = lambda r: (r["budget"], r["dataset"], r["algo"], r["proxy"], r["seed"])  # noqa: E731
    with _locked(out):
        res = _load(out)
        for k, v in meta.items():
            res["meta"].setdefault(k, v)
        if key(rec) not in {key(r) for r in res["runs"]}:
            res["runs"].append(rec)
        _save(out, res)
        disk = json.loads(costs_file.read_text()) if costs_file.exists() else {}
        for ds, m in costs.items():
            disk.setdefault(ds, {}).update(m)
        costs_file.write_text(json.dumps(disk))


def _scorer(store: str, dataset: str) -> tuple[dict, str]:
    from onnxscore.evaluation import image_batch
    from onnxscore.spaces.nb201 import DATASETS

    side = DATASETS[dataset][0]
    path, desc = image_batch(Path(store).resolve().parent / "batches", 128, 2027, side)
    return {"batch_size": 128, "seed": 0, "sigma": 1.0, "data": path, "bn": "batch", "init": "keep"}, desc


def c100_check(store: str, n: int = 3) -> dict:
    """Score n archs built for CIFAR-10 and for CIFAR-100 (same build seed): are all proxy scores identical?"""
    import numpy as np

    from onnxscore import Scorer
    from onnxscore.spaces.nb201 import NB201Space

    sc, _ = _scorer(store, "cifar10")
    scorer = Scorer(**sc, threads=2)
    rng = np.random.default_rng(99)
    s10, s100 = NB201Space("cifar10"), NB201Space("cifar100")
    same = []
    archs = []
    while len(archs) < n:
        a = s10.sample(rng)
        if not s10.is_dead(a):
            archs.append(a)
    for a in archs:
        r10 = scorer.score(s10.build(a, seed=0), SCORED).scores
        r100 = scorer.score(s100.build(a, seed=0), SCORED).scores
        same.append(r10 == r100)
    return {"archs": archs, "identical": all(same), "n": n}


def _imports_path(store: str) -> Path:
    return Path(store).resolve().parent / "search_nb201_imports.json"


def _costs_path(store: str) -> Path:
    return Path(store).resolve().parent / "search_nb201_costs.json"


def run(args) -> None:
    from bench.common import load_average, machine
    from onnxscore.searching import search
    from onnxscore.spaces.nb201 import NB201Space, load_accuracies

    out = Path(args.out)
    res = _load(out)
    Path(args.store).parent.mkdir(parents=True, exist_ok=True)
    table = load_accuracies()
    costs_file = _costs_path(args.store)
    costs = json.loads(costs_file.read_text()) if costs_file.exists() else {}
    if not res["meta"].get("c100_check"):
        res["meta"]["c100_check"] = c100_check(args.store)
        print(f"c100 check: {res['meta']['c100_check']}", flush=True)
        _save(out, res)
    if not res["meta"]["c100_check"]["identical"]:
        raise SystemExit("CIFAR-100 builds do not score like CIFAR-10 builds; search cifar100 separately")
    res["meta"].update({
        "machine": machine(threads=args.threads),
        "protocol": ("B=128 real CIFAR-10 test images (rows default_rng(2027).choice(1000,128); 16x16 2x2-pooled "
                     "for ImageNet16-120), sigma 1.0, noise seed 0, build seed 0, BN batch statistics; every "
                     "visited arch scored into one store with the run's --score-also proxies (per search: "
                     "scored_proxies)"),
        "store": str(Path(args.store).resolve()), "population": 10, "tournament": 3,
        "std": "sample standard deviation (ddof=1) over repeats",
        "cifar100": "the CIFAR-10 search's architecture looked up in the cifar100 column (identical proxy scores)",
        "random_choice": "each candidate gets an i.i.d. U(0,1) key from the search seed; the best key is a "
                         "uniformly random pick among the evaluated non-dead candidates",
        "cpu_as_run": "CPU seconds of the search process (cache hits cost nothing)",
        "cpu_uncached": ("sum over the search's evaluated archs of the CPU seconds measured when each was first "
                         f"scored (the scored proxies together, in-process, BLAS 1 thread, onnxruntime threads "
                         "as run: 1 for every budget-1000 search, recorded per search since then); dead archs 0; "
                         "archs scored by killed runs or imported have unknown cost"),
    })
    done = {(r["budget"], r["dataset"], r["algo"], r["proxy"], r["seed"]) for r in res["runs"]}
    spaces = {ds: NB201Space(ds) for ds in args.datasets}
    for budget in args.budgets:
        for seed in range(args.first_seed, args.first_seed + args.repeats):
            for ds in args.datasets:
                sc, desc = _scorer(args.store, ds)
                for algo in args.algos:
                    for proxy in args.proxies:
                        k = (budget, ds, algo, proxy, seed)
                        if k in done:
                            continue
                        t = time.strftime("%H:%M:%S")
                        print(f"[{t}] budget {budget} {ds} {algo} {proxy} seed {seed} ...", flush=True)
                        r = search("nb201", algo=algo, proxy=proxy, budget=budget, seed=seed,
                                   space_kwargs={"dataset": ds}, score_also=args.score_also, store=args.store, scorer=sc,
                                   build_seed=0, workers=0, threads=args.threads)
                        cmap = costs.setdefault(ds, {})
                        for ev in r.history:
                            if ev.cpu_s is not None:
                                cmap[ev.encoding] = round(ev.cpu_s, 4)
                        known = [cmap.get(ev.encoding) for ev in r.history if not spaces[ds].is_dead(ev.encoding)]
                        accs = {a: table[r.arch][a] for a in ACC_DATASETS[ds]} if r.arch else {}
                        oracle = {a: max(table[ev.encoding][a] for ev in r.history) for a in ACC_DATASETS[ds]}
                        rec = {"budget": budget, "dataset": ds, "algo": algo, "proxy": proxy, "seed": seed,
                               "arch": r.arch, "index": table[r.arch]["arch_index"] if r.arch else None,
                               "score": r.score, "scores": r.scores, "params": r.params, "macs": r.macs,
                               "accuracy": accs, "oracle_accuracy": oracle, "evaluated": r.evaluated,
                               "scored": r.scored, "dead": r.dead, "rejected": r.rejected,
                               "seconds": round(r.seconds, 2), "cpu_seconds": round(r.cpu_seconds, 2),
                               "cpu_uncached": round(sum(c for c in known if c is not None), 2),
                               "cpu_unknown": sum(c is None for c in known), "notes": r.notes,
                               "load": load_average(), "batch": desc, "scored_proxies": list(args.score_also),
                               "threads": args.threads,
                               "arch_indices": _pack_archs([ev.encoding for ev in r.history])}
                        _record(out, rec, res["meta"], costs_file, costs)
                        print(f"    -> {r.arch} acc {accs} evaluated {r.evaluated} new {r.scored} "
                              f"{r.seconds:.0f}s cpu {r.cpu_seconds:.0f}s", flush=True)


def import_store(args) -> None:
    """Copy scores from another store made with the same protocol (e.g. bench/reproduce_nb201.sh's) into ours.

    A row is copied only when its settings key equals ours except for the batch file's path, the batch bytes
    have the same sha256, and our store lacks the row; candidate keys (space, dataset, arch, build seed) are
    the same in both stores, so the copied rows are exactly what we would have computed.
    """
    import sqlite3

    from onnxscore.engine import RankSettings
    from onnxscore.store import ResultStore

    ip = _imports_path(args.store)
    log = json.loads(ip.read_text())["imports"] if ip.exists() else []
    with ResultStore(args.store) as dst:
        for src in args.sources:
            con = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
            rows = con.execute("SELECT content_hash, proxy, settings_key, model, score, status, error, info "
                               "FROM scores").fetchall()
            con.close()
            ours = {}
            for ds in SEARCH_DATASETS:
                sc, _ = _scorer(args.store, ds)
                key = RankSettings(proxies=SCORED, scorer=sc).score_key()
                k = json.loads(key)
                k.pop("data")
                ours[json.dumps(k, sort_keys=True)] = key
            copied = 0
            by_cand: dict = {}
            for ch, proxy, skey, model, score, status, error, info in rows:
                k = json.loads(skey)
                k.pop("data", None)
                mine = ours.get(json.dumps(k, sort_keys=True))
                if mine is None or proxy not in SCORED:
                    continue
                by_cand.setdefault((ch, mine, model, info), []).append((proxy, score, status, error))
            for (ch, mine, model, info), prs in by_cand.items():
                if not dst.missing_proxies(ch, mine, [p for p, *_ in prs]):
                    continue
                scores = {p: (sc if st == "ok" else None) for p, sc, st, _ in prs}
                errors = {p: er for p, _, st, er in prs if st != "ok"}
                dst.put_candidate(ch, mine, model, scores, errors, info=json.loads(info) if info else None)
                copied += 1
            print(f"{src}: {copied} candidates copied", flush=True)
            log.append({"source": str(src), "candidates": copied, "date": time.strftime("%Y-%m-%dT%H:%M:%S")})
    _save(_imports_path(args.store), {"imports": log})


def backfill_costs(args) -> None:
    """Measure the scoring CPU time of archs the searches used whose cost is unknown (imported, or scored by a
    killed run): score each again, in-process with the same settings, into a throwaway store."""
    import tempfile

    from onnxscore.searching import ProxyEvaluator
    from onnxscore.spaces.nb201 import NB201Space

    from onnxscore.searching import search

    res = _load(Path(args.out))
    costs_file = _costs_path(args.store)
    costs = json.loads(costs_file.read_text()) if costs_file.exists() else {}
    replayed = mismatched = 0
    for r in res["runs"]:  # runs recorded before archs were logged: replay them from the store (deterministic)
        if "archs" in r or "arch_indices" in r:
            continue
        sc, _ = _scorer(args.store, r["dataset"])
        again = search("nb201", algo=r["algo"], proxy=r["proxy"], budget=r["budget"], seed=r["seed"],
                       space_kwargs={"dataset": r["dataset"]}, score_also=r.get("scored_proxies", SCORED),
                       store=args.store, scorer=sc, threads=args.threads)
        replayed += 1
        mismatched += again.arch != r["arch"]
        r["arch_indices"] = _pack_archs([ev.encoding for ev in again.history])
    print(f"replayed {replayed} searches from the store; {mismatched} found a different arch", flush=True)
    res["meta"]["replay_check"] = {"replayed": replayed, "different_arch": mismatched}
    for ds in SEARCH_DATASETS:
        sp = NB201Space(ds)
        need = []
        for r in res["runs"]:
            if r["dataset"] != ds or not r["cpu_unknown"]:
                continue
            need.extend(a for a in _archs(r) if a not in costs.get(ds, {}) and not sp.is_dead(a))
        need = list(dict.fromkeys(need))[: args.limit]
        if not need:
            continue
        sc, _ = _scorer(args.store, ds)
        with tempfile.TemporaryDirectory() as tmp:
            ev = ProxyEvaluator("nb201", sp, {"dataset": ds}, "epads", score_also=SCORED, scorer=sc,
                                store=str(Path(tmp) / "s.sqlite"), threads=args.threads)
            for i, a in enumerate(need):
                (e,) = ev(sp, [a])
                costs.setdefault(ds, {})[a] = round(e.cpu_s, 4)
                if i % 20 == 19:
                    costs_file.write_text(json.dumps(costs))
                    print(f"{ds}: {i + 1}/{len(need)}", flush=True)
            ev.close()
        costs_file.write_text(json.dumps(costs))
    # recompute the runs' uncached cost from the completed map
    for r in res["runs"]:
        sp = NB201Space(r["dataset"])
        known = [costs.get(r["dataset"], {}).get(a) for a in _archs(r) if not sp.is_dead(a)]
        if known:
            r["cpu_uncached"] = round(sum(c for c in known if c is not None), 2)
            r["cpu_unknown"] = sum(c is None for c in known)
    _save(Path(args.out), res)


# ----------------------------------------------------------------------------- report


def _ms(xs, digits=2) -> str:
    import numpy as np

    xs = [x for x in xs if x is not None]
    if not xs:
        return "-"
    std = float(np.std(xs, ddof=1)) if len(xs) > 1 else 0.0
    return f"{np.mean(xs):.{digits}f} ± {std:.{digits}f}"


def report(args) -> str:
    res = _load(Path(args.out))
    runs = res["runs"]
    lines = ["# NAS-Bench-201: what training-free search finds", "",
             "Test accuracy (%) of the architecture found, mean ± std (ddof=1) over n independent searches "
             "(seeds 0..n-1). Budget = distinct architectures evaluated per search. Population 10, tournament 3 "
             "for evolution. CPU s/search: as run (store hits are free) / uncached (sum of the CPU time measured "
             "when each evaluated arch was first scored, in-process, with the proxies named under each budget; "
             "archs whose cost was not measured count 0 and their share is given).", ""]
    names = {"epads": "ePADS", "naswot": "NASWOT", "swap": "SWAP", "params": "params", "random": "random choice"}
    for budget in sorted({r["budget"] for r in runs}):
        scored = sorted({",".join(r.get("scored_proxies", SCORED)) for r in runs if r["budget"] == budget})
        lines += [f"## Budget {budget}", "",
                  f"New architectures were scored with: {' / '.join(scored)}"
                  + (" (one forward serves them all)." if any("," in x for x in scored) else "."), "",
                  "| search | guided by | CIFAR-10 | CIFAR-100 | ImageNet16-120 | n (C10 / IN16) "
                  "| CPU s/search C10: as run / uncached | IN16 |",
                  "|---|---|---|---|---|---|---|---|"]
        for algo in ALGOS:
            for proxy in PROXIES:
                c10 = [r for r in runs if r["budget"] == budget and r["algo"] == algo and r["proxy"] == proxy
                       and r["dataset"] == "cifar10"]
                i16 = [r for r in runs if r["budget"] == budget and r["algo"] == algo and r["proxy"] == proxy
                       and r["dataset"] == "ImageNet16-120"]
                if not c10 and not i16:
                    continue

                def cpu(rs):
                    if not rs:
                        return "-"
                    if proxy in ("params", "random"):
                        return "0 (no forward pass)"
                    a = sum(r["cpu_seconds"] for r in rs) / len(rs)
                    u = sum(r["cpu_uncached"] for r in rs) / len(rs)
                    unk = sum(r["cpu_unknown"] for r in rs) / max(1, sum(r["evaluated"] - r["dead"] for r in rs))
                    return f"{a:.0f} / {u:.0f}" + (f" ({100 * unk:.0f}% of archs unmeasured)" if unk else "")

                lines.append(
                    f"| {'random search' if algo == 'random' else 'evolution'} | {names[proxy]} "
                    f"| {_ms([r['accuracy'].get('cifar10') for r in c10])} "
                    f"| {_ms([r['accuracy'].get('cifar100') for r in c10])} "
                    f"| {_ms([r['accuracy'].get('ImageNet16-120') for r in i16])} "
                    f"| {len(c10)} / {len(i16)} | {cpu(c10)} | {cpu(i16)} |")
        lines.append("")
    lines += ["## Published NAS-Bench-201 search results (for comparison)", "",
              "| method | CIFAR-10 | CIFAR-100 | ImageNet16-120 |", "|---|---|---|---|"]
    for name, vals in PUBLISHED:
        cells = [f"{m:.2f}" + (f" ± {s:.2f}" if s is not None else "") for m, s in
                 (vals[d] for d in ("cifar10", "cifar100", "ImageNet16-120"))]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    meta = res.get("meta", {})
    lines += ["", f"Protocol: {meta.get('protocol', '')}.", f"CIFAR-100: {meta.get('cifar100', '')}; check: "
              f"{meta.get('c100_check', {})}.", f"Random choice: {meta.get('random_choice', '')}."]
    ip = _imports_path(meta.get("store", DEFAULT_STORE))
    if ip.exists():
        n = sum(i["candidates"] for i in json.loads(ip.read_text())["imports"])
        lines.append(f"{n} architectures' scores were copied from same-protocol stores of bench/reproduce_nb201.sh "
                     "(same batch bytes, seeds and settings; only the batch file's path differed); their CPU cost "
                     "is counted as unknown.")
    mach = meta.get("machine") or {}
    if mach:
        from bench.common import machine_line

        lines.append(f"Machine (at the first run): {machine_line(mach)}.")
    text = "\n".join(lines) + "\n"
    if args.md:
        Path(args.md).write_text(text, encoding="utf-8")
    print(text)
    return text


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run (or resume) the searches")
    r.add_argument("--budgets", type=int, nargs="+", default=[100])
    r.add_argument("--repeats", type=int, default=10)
    r.add_argument("--first-seed", type=int, default=0)
    r.add_argument("--datasets", nargs="+", default=list(SEARCH_DATASETS), choices=SEARCH_DATASETS)
    r.add_argument("--algos", nargs="+", default=list(ALGOS), choices=ALGOS)
    r.add_argument("--proxies", nargs="+", default=list(PROXIES), choices=PROXIES)
    r.add_argument("--store", default=DEFAULT_STORE)
    r.add_argument("--threads", type=int, default=2)
    r.add_argument("--score-also", nargs="+", default=list(SCORED), choices=SCORED,
                   help="proxies computed for every new arch (default all three; the guiding proxy is always scored)")
    r.add_argument("--out", default=str(DEFAULT_OUT))
    p = sub.add_parser("report", help="markdown table of the finished searches")
    p.add_argument("--out", default=str(DEFAULT_OUT))
    p.add_argument("--md", default=str(RESULTS / "search_nb201.md"))
    i = sub.add_parser("import-store", help="copy same-protocol scores from other stores (e.g. reproduce_nb201.sh)")
    i.add_argument("sources", nargs="+")
    i.add_argument("--store", default=DEFAULT_STORE)
    i.add_argument("--out", default=str(DEFAULT_OUT))
    b = sub.add_parser("backfill-costs", help="measure the CPU cost of archs scored elsewhere (one at a time)")
    b.add_argument("--store", default=DEFAULT_STORE)
    b.add_argument("--out", default=str(DEFAULT_OUT))
    b.add_argument("--threads", type=int, default=1)
    b.add_argument("--limit", type=int, default=100000)
    args = ap.parse_args(argv)
    {"run": run, "report": report, "import-store": import_store, "backfill-costs": backfill_costs}[args.cmd](args)


if __name__ == "__main__":
    main()
