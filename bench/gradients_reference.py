"""The gradient proxies on docs/GRADIENTS.md's own 100 NAS-Bench-201 architectures and batch, so that
its measured table (PyTorch, 100 archs) is compared on the same architectures, not a different sample.

Architectures: rows numpy default_rng(0).choice over the CIFAR-10 rows of ../shared/data/nb201_zc_naslib.csv
(100 of 724); batch: rows default_rng(1).choice(1000, 64, replace=False) of cifar10_test_1000.npz with
their true labels, CIFAR-10 normalisation. Weights: onnxscore's builder (build seed 0; the reference
used torch.manual_seed(arch_index), the same distribution). Kendall tau against the test accuracy of
the CSV, and against NASLib's stored values for the same archs (different weights and batch: high but
not 1, as in GRADIENTS.md's tau(ours, NASLib) column). Scores go in a store, so a rerun resumes.

    python bench/gradients_reference.py --workers 2
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common as C  # noqa: E402

PROXIES = ["grad_norm", "snip", "plain", "grasp", "synflow", "jacov", "fisher", "l2_norm", "ntk_trace", "zico"]
# docs/GRADIENTS.md, "Measured with a PyTorch implementation of this file": tau(ours, acc), tau(NASLib, acc)
REFERENCE = {"grad_norm": (0.398, 0.400), "snip": (0.401, 0.399), "grasp": (0.323, 0.349), "plain": (-0.133, -0.085),
             "synflow": (0.532, 0.523), "jacov": (0.608, 0.615), "fisher": (0.340, 0.329), "l2_norm": (0.518, 0.504),
             "ntk_trace": (0.337, None), "ntk_cond": (-0.506, None), "zico": (0.530, None)}


def sample() -> list[dict]:
    import numpy as np

    from onnxscore.datasets import shared_data_dir
    path = shared_data_dir() / "nb201_zc_naslib.csv"
    rows = [r for r in csv.DictReader(open(path)) if r["dataset"] == "cifar10"]
    return [rows[i] for i in np.random.default_rng(0).choice(len(rows), 100, replace=False)]


def batch():
    import numpy as np

    from onnxscore.datasets import CIFAR10_MEAN, CIFAR10_STD, shared_data_dir
    d = np.load(shared_data_dir() / "cifar10_test_1000.npz")
    idx = np.random.default_rng(1).choice(1000, 64, replace=False)
    x = d["images"][idx].astype(np.float32) / 255.0
    x = (x - np.array(CIFAR10_MEAN, np.float32)) / np.array(CIFAR10_STD, np.float32)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2)), d["labels"][idx].astype(np.int64)


def score(arch: str, proxies: list[str]) -> dict:
    from onnxscore.proxies.gradient import GradientPlan
    from onnxscore.spaces import nb201
    x, y = batch()
    t = time.perf_counter()
    out = GradientPlan(nb201.build_model(arch, "cifar10", seed=0), x, y, proxies).scores()
    return {"arch": arch, "seconds": time.perf_counter() - t, **{p: out[p].value for p in proxies}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--proxies", default=",".join(PROXIES))
    ap.add_argument("--cache", default=str(C.RESULTS / "gradients_reference_scores.json"),
                    help="per-architecture scores (resumable)")
    a = ap.parse_args(argv)
    C.limit_blas_threads(1)
    proxies = a.proxies.split(",")
    rows = sample()
    cache_path = Path(a.cache)
    done = json.loads(cache_path.read_text()) if cache_path.is_file() else {}
    todo = [r["arch_str"] for r in rows if any(p not in done.get(r["arch_str"], {}) for p in proxies)]
    with ProcessPoolExecutor(a.workers) as pool:
        for res in pool.map(score, todo, [proxies] * len(todo)):
            done.setdefault(res["arch"], {}).update(res)
            cache_path.write_text(json.dumps(done, indent=1))
            print(json.dumps({k: res[k] for k in ("arch", "seconds")}), flush=True)
    from onnxscore.evaluation import directed_metrics, kendall
    acc = [float(r["test_accuracy"]) for r in rows]
    table = []
    for p in proxies:
        ours = [done[r["arch_str"]].get(p) for r in rows]
        naslib = [float(r[p]) for r in rows] if p in rows[0] else None
        m = directed_metrics(p, ours, acc)
        ref, ref_naslib = REFERENCE.get(p, (None, None))
        table.append({"proxy": p, "tau": round(m["kendall"], 3), "rho": round(m["spearman"], 3),
                      "reference_tau": ref, "delta": None if ref is None else round(m["kendall"] - ref, 3),
                      "tau_vs_naslib": None if naslib is None else round(kendall(ours, naslib), 3),
                      "naslib_tau_same_archs": ref_naslib,
                      "seconds_mean": round(sum(done[r["arch_str"]]["seconds"] for r in rows) / len(rows), 2)})
    md = (f"Gradient proxies on docs/GRADIENTS.md's 100 NB201 CIFAR-10 architectures and its batch (B = 64, "
          f"true labels), onnxscore's graphs on onnxruntime\n\n`{C.command_line()}`  \n"
          f"{C.machine_line(C.machine(2))}\n\n"
          + C.markdown_table(table, ["proxy", "tau", "rho", "reference_tau", "delta", "tau_vs_naslib",
                                     "naslib_tau_same_archs", "seconds_mean"],
                             ["proxy", "tau (ours, acc)", "rho", "GRADIENTS.md tau (PyTorch)", "difference",
                              "tau (ours, NASLib)", "tau (NASLib, acc)", "s/arch (ours)"]) + "\n")
    print("\n" + md)
    C.save("gradients_reference", {"command": C.command_line(), "rows": table}, md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
