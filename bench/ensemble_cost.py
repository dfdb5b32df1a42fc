"""Time per architecture of each single proxy and of each ensemble's members scored in one plan.

    python bench/ensemble_cost.py --archs 10 [--dataset cifar10]

NAS-Bench-201 networks from rows default_rng(2026).choice(15625, archs), the protocol's 128 CIFAR-10 images
(the gradient proxies use the first 64 with their labels), one process, timed in one run: every proxy and
every ensemble on the same networks, in turn per network, so machine noise hits all of them alike.
Writes bench/results/ensemble_cost.{json,md} (ensemble_cost-DATASET.* for another dataset).
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SINGLES = ["flops", "layers", "vkdnw_dim", "epads", "naswot", "jacov", "az_expressivity", "vkdnw_entropy"]
ENSEMBLES = ["az_nas", "vkdnw_agg", "ensemble", "ensemble_in16"]


def main() -> None:
    from onnxscore import Scorer
    from onnxscore.evaluation import benchmark_of, image_batch, image_labels
    from onnxscore.engine.worker import _build
    from onnxscore.proxies import registry

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--archs", type=int, default=10)
    ap.add_argument("--dataset", default="cifar10")
    args = ap.parse_args()
    bench = benchmark_of("nb201", args.dataset)
    items, _ = bench.items(args.archs, 2026, 0)
    cache = Path("/tmp/onnxscore-cost-batch")
    side = 16 if args.dataset == "ImageNet16-120" else 32
    data, _ = image_batch(cache, 128, 2027, side)
    labels = image_labels(cache, 128, 2027)
    scorer = Scorer(batch_size=128, data=str(data), labels=str(labels), threads=0)
    jobs = {p: [p] for p in SINGLES} | {e: registry.computed([e]) for e in ENSEMBLES if e in registry.names()}
    times: dict[str, list[float]] = {k: [] for k in jobs}
    for it in items:
        for name, proxies in jobs.items():
            model = _build(it.candidate)  # a new object: the families' one-model memo cannot carry over
            t = time.perf_counter()
            scorer.score(model, proxies)
            times[name].append(time.perf_counter() - t)
    rows = {k: {"median_s": statistics.median(v), "mean_s": statistics.fmean(v), "members": jobs[k]}
            for k, v in times.items()}
    out = {"meta": {"host": platform.node(), "archs": args.archs, "dataset": args.dataset,
                    "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}, "rows": rows}
    res = ROOT / "bench" / "results"
    stem = "ensemble_cost" if args.dataset == "cifar10" else f"ensemble_cost-{args.dataset}"
    (res / f"{stem}.json").write_text(json.dumps(out, indent=1) + "\n")
    lines = [f"Seconds per NAS-Bench-201 network ({args.dataset}, {args.archs} networks, one process, one run):", "",
             "| proxy or ensemble | median s | mean s | scored in one plan |", "|---|---|---|---|"]
    for k, r in rows.items():
        lines.append(f"| {k} | {r['median_s']:.2f} | {r['mean_s']:.2f} | {', '.join(r['members'])} |")
    (res / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
