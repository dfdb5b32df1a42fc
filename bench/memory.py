"""Peak resident memory scoring a large network: ResNet-50-shaped, 224x224, ePADS with B = 64 (2B = 128 rows).

Each configuration runs in a fresh subprocess; its peak RSS is the child's own VmHWM (/proc/self/status)
cross-checked with ru_maxrss from os.wait4. Configurations: Python + imports + model bytes only;
plain onnxruntime inference of the 2B batch (raw file, and with only the batch-statistics BN rewrite);
onnxscore with its default memory plan, with pack=True (bits packed inside onnxruntime) and pack=False
(BOOL outputs packed by NumPy).

    python samples/make_resnet50.py            # once: writes samples/resnet50.onnx (~100 MB, not committed)
    python bench/memory.py --model samples/resnet50.onnx --batch-size 64
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common as C  # noqa: E402

LIMIT_GIB = 2.5
DEFAULT_CONFIGS = ("import", "plain-raw", "plain-batchstats", "onnxscore-default", "onnxscore-pack", "onnxscore-nopack")
# Optional: simulate session-option changes on top of the core (bench.common.patched_session_options):
# ExecutionOrder.PRIORITY_BASED (site code nodes run as soon as their activation exists, so float activations
# die early) and the CPU memory arena off. Both went into onnxscore.runtime at 17:11 on 2026-11-23, so with
# the current core they change nothing unless the core's defaults change again.
CONFIGS = DEFAULT_CONFIGS + ("onnxscore-default+priority", "onnxscore-default+priority+noarena",
                             "onnxscore-nopack+noarena")


def child(kind: str, model_path: str, batch: int, threads: int, proxies: list[str]) -> dict:
    """One configuration in this (fresh) process; returns its numbers including VmHWM."""
    import onnx

    import onnxscore
    from onnxscore.inputs import input_spec, random_batch

    t0 = time.perf_counter()
    out: dict = {"config": kind}
    if kind == "import":
        Path(model_path).read_bytes()
    elif kind.startswith("plain"):
        model = onnx.load(model_path)
        if kind == "plain-batchstats":
            model = C.batch_stats_model(model)
        x = random_batch(input_spec(model), batch, 0)
        x2 = C.paired_batch(x)
        dev = C.device()
        sess = C.session(model, dev["providers"], threads)
        del model
        t = time.perf_counter()
        C.infer(sess, x2)
        out["forward_s"] = round(time.perf_counter() - t, 2)
    else:
        pack = {"onnxscore-pack": True, "onnxscore-nopack": False, "onnxscore-nopack+noarena": False}.get(kind)
        sc = onnxscore.Scorer(batch_size=batch, threads=threads, pack=pack)
        with C.patched_session_options("+priority" in kind, "+noarena" not in kind):
            res = C.score_phases(sc, model_path, proxies)
        out.update(scores=res["scores"], sites=res["sites"], units=res["units"],
                   packed_in_graph=res["packed_in_graph"], code_mb=res["code_mb"],
                   phases={k: round(v, 3) for k, v in res["phases"].items()})
    out["wall_s"] = round(time.perf_counter() - t0, 2)
    out["vmhwm_mb"] = round(C.vm_kb("VmHWM") / 1024, 1)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(C.ROOT / "samples" / "resnet50.onnx"))
    ap.add_argument("--batch-size", type=int, default=64, help="B (ePADS runs 2B rows)")
    ap.add_argument("--threads", type=int, default=C.DEFAULT_THREADS)
    ap.add_argument("--proxies", default="epads")
    ap.add_argument("--configs", nargs="+", default=list(DEFAULT_CONFIGS), choices=CONFIGS)
    ap.add_argument("--child", choices=CONFIGS, help=argparse.SUPPRESS)
    ap.add_argument("--name", default="memory", help="results file stem in bench/results/")
    ap.add_argument("--out-dir", default=None, help="results folder (default bench/results)")
    a = ap.parse_args(argv)
    proxies = a.proxies.split(",")
    if a.child:
        print(json.dumps(child(a.child, a.model, a.batch_size, a.threads, proxies)))
        return 0
    if not Path(a.model).is_file():
        print(f"memory: error: {a.model} not found; create it with: python samples/make_resnet50.py", file=sys.stderr)
        return 2
    dev = C.device()
    info = C.machine(a.threads, dev)
    print(dev["message"])
    print(C.machine_line(info))
    rows = []
    for kind in a.configs:
        r = C.run_child([str(Path(__file__).resolve()), "--child", kind, "--model", a.model,
                         "--batch-size", str(a.batch_size), "--threads", str(a.threads), "--proxies", a.proxies])
        r["peak_mb"] = max(r["vmhwm_mb"], r["ru_maxrss_mb"])
        r["peak_gib"] = round(r["peak_mb"] / 1024, 2)
        r["under_limit"] = r["peak_gib"] < LIMIT_GIB if kind.startswith("onnxscore") else ""
        r["load_average"] = C.load_average()
        rows.append(r)
        print(json.dumps(r), flush=True)
    table = C.markdown_table(
        rows, ["config", "peak_mb", "peak_gib", "under_limit", "packed_in_graph", "code_mb", "forward_s", "wall_s"],
        ["configuration", "peak RSS (MiB)", "peak RSS (GiB)", f"< {LIMIT_GIB} GiB", "bits packed in graph",
         "codes kept (MiB)", "plain forward (s)", "process wall (s)"])
    md = (f"Peak RSS, {Path(a.model).name}, {','.join(proxies)}, B = {a.batch_size} ({2 * a.batch_size} rows), "
          f"{dev['message']}\n\n`{C.command_line()}`  \n{C.machine_line(info)}\n\n{table}\n")
    print("\n" + md)
    info["load_average_end"] = C.load_average()
    C.save(a.name, {"machine": info, "device": dev, "command": C.command_line(), "model": a.model,
                    "batch_size": a.batch_size, "proxies": proxies, "rows": rows}, md, a.out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
