"""The gradient proxies of NAS-Bench-201 networks: onnxscore's one plan per model against the PyTorch
reference done the usual way (one autograd run per proxy, tests/proxies/gradient/torch_reference.py,
which follows docs/GRADIENTS.md), same weights, same batch, interleaved per architecture, same threads.

onnxscore's time is GradientPlan.scores end to end (graph building, sessions, runs). Both sides are
timed twice: all eleven proxies, and the ten without ntk_cond (whose N per-sample backward passes
dominate both). The values are compared too. With --resnet50 a child process also reports the peak
memory of the plan on a ResNet-50-shaped net at 224x224 (samples/make_resnet50.py).

    python bench/gradients.py --archs 3
    python bench/gradients.py --archs 0 --resnet50 samples/resnet50.onnx --batch-size 32
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common as C  # noqa: E402

TARGET = 1.5  # the goal: onnxscore at least 1.5x faster than the PyTorch reference per model


def _batch(b: int):
    import numpy as np

    from onnxscore.datasets import cifar10_labels
    x = C.cifar_batch(128)[:b]
    y = cifar10_labels(batch_size=128)[:b].astype(np.int64)
    return np.ascontiguousarray(x), y


def nb201_rows(n: int, b: int, threads: int) -> list[dict]:
    import torch

    from onnxscore.proxies.gradient import GradientPlan, names
    from onnxscore.spaces import nb201, nb201_torch as nt
    from tests.proxies.gradient import torch_reference as ref
    torch.set_num_threads(threads)
    x, y = _batch(b)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    everything = names()
    rows = []
    for arch in C.nb201_archs(n):
        model = nb201.build_model(arch, "cifar10", seed=0)
        net = nt.load_weights_from_onnx(nt.build_torch(arch, "cifar10"), model)
        row: dict = {"arch": arch}
        for label, proxies in (("ten", [p for p in everything if p != "ntk_cond"]), ("ntk_cond", ["ntk_cond"])):
            t = time.perf_counter()
            plan = GradientPlan(model, x, y, proxies)
            ours = plan.scores()
            row[f"onnxscore_{label}_s"] = round(time.perf_counter() - t, 2)
            row[f"runs_{label}"] = plan.runner.runs
            t = time.perf_counter()
            theirs = {p: ref.ALL[p](net, xt, yt) for p in proxies}
            row[f"torch_{label}_s"] = round(time.perf_counter() - t, 2)
            for p in proxies:
                v, w = ours[p].value, theirs[p]
                row[f"rel_{p}"] = None if v is None else abs(v - w) / max(abs(w), 1e-30)
        for side in ("onnxscore", "torch"):
            row[f"{side}_all_s"] = round(row[f"{side}_ten_s"] + row[f"{side}_ntk_cond_s"], 2)
        for label in ("ten", "ntk_cond", "all"):
            row[f"speedup_{label}"] = round(row[f"torch_{label}_s"] / row[f"onnxscore_{label}_s"], 2)
        row["max_rel_diff"] = max(v for k, v in row.items() if k.startswith("rel_") and v is not None)
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def resnet50_child(model_path: str, b: int, proxies: list[str], bn_backward: str = "closed") -> dict:
    import numpy as np
    import onnx

    from onnxscore.proxies.gradient import GradientPlan
    if bn_backward == "op-by-op":  # the form before graph/autodiff/standardize.py, for a before/after row
        from onnxscore.graph.autodiff import standardize
        standardize.find = lambda em, nodes: {}
    model = onnx.load(model_path)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((b, 3, 224, 224)).astype(np.float32)
    y = rng.integers(0, 1000, b).astype(np.int64)
    t = time.perf_counter()
    plan = GradientPlan(model, x, y, proxies)
    scores = plan.scores()
    return {"proxies": ",".join(proxies), "wall_s": round(time.perf_counter() - t, 1), "runs": plan.runner.runs,
            "vmhwm_mb": round(C.vm_kb("VmHWM") / 1024, 1),
            "null": {k: v.reason for k, v in scores.items() if v.value is None},
            "scores": {k: v.value for k, v in scores.items()}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archs", type=int, default=3, help="NB201 architectures (protocol sample order)")
    ap.add_argument("--batch-size", type=int, default=64, help="B: the first B protocol images and their labels")
    ap.add_argument("--threads", type=int, default=C.DEFAULT_THREADS)
    ap.add_argument("--resnet50", default=None, help="ONNX file for the peak-memory row (samples/make_resnet50.py)")
    ap.add_argument("--resnet50-proxies", default="all-but-ntk_cond",
                    help="comma list, or all-but-ntk_cond (ntk_cond is N backward passes of ResNet-50)")
    ap.add_argument("--bn-backward", choices=["closed", "op-by-op"], default="closed",
                    help="ResNet-50 row: BN's gradient in closed form (onnxscore's) or op by op (the form before it)")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--name", default="gradients")
    a = ap.parse_args(argv)
    C.limit_blas_threads(a.threads)
    if a.child:
        print(json.dumps(resnet50_child(a.resnet50, a.batch_size, a.child.split(","), a.bn_backward)))
        return 0
    info = C.machine(a.threads)
    print(C.machine_line(info))
    rows = nb201_rows(a.archs, a.batch_size, a.threads) if a.archs else []
    memory = None
    if a.resnet50:
        from onnxscore.proxies.gradient import names
        proxies = [p for p in names() if p != "ntk_cond"] if a.resnet50_proxies == "all-but-ntk_cond" \
            else a.resnet50_proxies.split(",")
        memory = C.run_child([str(Path(__file__).resolve()), "--child", ",".join(proxies), "--resnet50", a.resnet50,
                              "--batch-size", str(a.batch_size), "--threads", str(a.threads),
                              "--bn-backward", a.bn_backward], timeout=3600)
        memory["peak_mb"] = max(memory["vmhwm_mb"], memory["ru_maxrss_mb"])
        print(json.dumps(memory), flush=True)
    md = [f"Gradient proxies, onnxscore (one plan per model) vs PyTorch (one autograd run per proxy), "
          f"B = {a.batch_size}, {a.threads} threads\n\n`{C.command_line()}`  \n{C.machine_line(info)}\n"]
    if rows:
        md.append(C.markdown_table(
            rows, ["arch", "onnxscore_ten_s", "torch_ten_s", "speedup_ten", "onnxscore_ntk_cond_s", "torch_ntk_cond_s",
                   "speedup_ntk_cond", "onnxscore_all_s", "torch_all_s", "speedup_all", "max_rel_diff"],
            ["architecture", "ours, 10 (s)", "torch, 10 (s)", "x", "ours, ntk_cond (s)", "torch, ntk_cond (s)", "x",
             "ours, all 11 (s)", "torch, all 11 (s)", f"x (target {TARGET})", "max rel. diff"]))
    if memory:
        md.append(f"\nResNet-50-shaped net, 224x224, B = {a.batch_size}, {memory['proxies']}, BN backward "
                  f"{a.bn_backward}: peak RSS "
                  f"{memory['peak_mb'] / 1024:.2f} GiB, {memory['wall_s']} s, {memory['runs']} onnxruntime runs; "
                  f"null: {memory['null'] or 'none'}; scores: {memory['scores']}\n")
    text = "\n".join(md) + "\n"
    print("\n" + text)
    C.save(a.name, {"machine": info, "command": C.command_line(), "batch_size": a.batch_size, "rows": rows,
                    "resnet50": memory}, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
